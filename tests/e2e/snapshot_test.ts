// VolumeSnapshots and clones through the real snapshot-controller and csi-snapshotter (the
// cluster add-on hack/cluster/snapshot-addon.sh applies): a pod writes a tree to a claim; a
// VolumeSnapshot of it becomes readyToUse; a claim restored from the snapshot and a claim
// cloned from the original each show the same bytes to a new pod; deleting the original
// claim and its pod leaves both intact. The tests run in order and share the objects.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import {
  apply,
  DRIVER,
  events,
  exec,
  getJson,
  getOrUndefined,
  kubectl,
  type Obj,
  pvc,
  runPod,
  shellPod,
  startPod,
  waitFor,
} from "./kube.ts";
import { DRIVER_NS, E2E_LABEL } from "./mount_pods.ts";

const NS = "csi-jfs-e2e";
const CLASS = "juicefs-e2e-snapshots";
const ORIGIN = "snap-origin";
const SNAPSHOT = "snap-origin-1";
const RESTORED = "snap-restored";
const CLONED = "snap-cloned";
const ignore = Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1";
// The tree's checksums, one "sum  path" line per file, sorted by path (sha256sum's format).
const SUMS = "cd /data && find . -type f | sort | xargs sha256sum";
let written = "";
let originPv = "";

async function explain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    console.error(`events in ${NS}:\n${await events(NS)}`);
    throw e;
  }
}

function snapshotClass(): Obj {
  return {
    apiVersion: "snapshot.storage.k8s.io/v1",
    kind: "VolumeSnapshotClass",
    metadata: { name: CLASS, labels: { [E2E_LABEL]: "true" } },
    driver: DRIVER,
    deletionPolicy: "Delete",
    // The file system's Secret: the StorageClass's (tests/e2e/overlay/juicefs-e2e.yaml).
    parameters: {
      "csi.storage.k8s.io/snapshotter-secret-name": "juicefs-e2e",
      "csi.storage.k8s.io/snapshotter-secret-namespace": DRIVER_NS,
      "csi.storage.k8s.io/snapshotter-list-secret-name": "juicefs-e2e",
      "csi.storage.k8s.io/snapshotter-list-secret-namespace": DRIVER_NS,
    },
  };
}

function claimFrom(name: string, dataSource: Obj): Obj {
  const c = pvc(NS, name, "1Gi");
  c.spec.dataSource = dataSource;
  return c;
}

async function bound(name: string): Promise<Obj> {
  return await waitFor(`claim ${name} to bind`, async () => {
    const c = await getJson(["-n", NS, "get", "pvc", name]);
    return c.status?.phase === "Bound" ? c : undefined;
  }, 180_000);
}

/** The checksums a new ordinary pod sees on `claim`. */
async function sumsOn(claim: string, pod: string): Promise<string> {
  const r = await runPod(shellPod(NS, pod, claim, `set -e; ${SUMS}`));
  assertEquals(r.phase, "Succeeded", `${pod} log: ${r.log}`);
  return r.log.trim();
}

async function gone(what: string, args: string[]): Promise<void> {
  await waitFor(
    `${what} to be deleted`,
    async () => (await getOrUndefined(args)) === undefined ? true : undefined,
    180_000,
  );
}

Deno.test({
  name: "snapshots: a pod writes a tree of files to a PVC and keeps it mounted",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      await apply(snapshotClass());
      await apply(pvc(NS, ORIGIN, "1Gi"));
      originPv = (await bound(ORIGIN)).spec.volumeName;
      const writer = shellPod(
        NS,
        ORIGIN,
        ORIGIN,
        `set -e; mkdir -p /data/a/b /data/c
         head -c 4194304 /dev/urandom > /data/blob
         for i in $(seq 1 50); do head -c $((i * 997)) /dev/urandom > /data/a/f$i; done
         for i in $(seq 1 20); do echo "line $i" > /data/a/b/g$i; done
         : > /data/c/empty; sync; touch /tmp/written
         trap 'exit 0' TERM; while :; do sleep 1; done`,
      );
      await startPod(writer);
      await waitFor("the writer to finish writing", () =>
        exec(NS, ORIGIN, ["test", "-e", "/tmp/written"]).then(() => true));
      written = (await exec(NS, ORIGIN, ["sh", "-c", SUMS])).trim();
      assertEquals(written.split("\n").length, 72, `checksums:\n${written}`);
    }),
});

Deno.test({
  name: "snapshots: a VolumeSnapshot of the PVC becomes readyToUse",
  ignore,
  fn: () =>
    explain(async () => {
      assert(written, "needs the written tree (previous test)");
      const asked = Date.now();
      await apply({
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshot",
        metadata: { namespace: NS, name: SNAPSHOT },
        spec: { volumeSnapshotClassName: CLASS, source: { persistentVolumeClaimName: ORIGIN } },
      });
      const snap = await waitFor(
        `VolumeSnapshot ${SNAPSHOT} to be readyToUse`,
        async () => {
          const s = await getJson(["-n", NS, "get", "volumesnapshot", SNAPSHOT]);
          if (s.status?.error) throw new Error(`VolumeSnapshot error: ${JSON.stringify(s.status.error)}`);
          return s.status?.readyToUse === true ? s : undefined;
        },
        180_000,
        200,
      );
      const seen = Date.now();
      console.log(
        `VolumeSnapshot ${SNAPSHOT}: readyToUse ${
          ((seen - asked) / 1000).toFixed(1)
        }s after it was applied ` +
          `(polled every 0.2s; restoreSize ${snap.status.restoreSize})`,
      );
      const content = await getJson([
        "get",
        "volumesnapshotcontent",
        snap.status.boundVolumeSnapshotContentName,
      ]);
      assertEquals(content.spec.driver, DRIVER);
      assert(content.status?.snapshotHandle, `no snapshotHandle: ${JSON.stringify(content.status)}`);
    }),
});

Deno.test({
  name: "snapshots: a PVC restored from the snapshot and a PVC cloned from the original show the same bytes",
  ignore,
  fn: () =>
    explain(async () => {
      assert(written, "needs the written tree (first test)");
      await apply(claimFrom(RESTORED, {
        apiGroup: "snapshot.storage.k8s.io",
        kind: "VolumeSnapshot",
        name: SNAPSHOT,
      }));
      await apply(claimFrom(CLONED, { kind: "PersistentVolumeClaim", name: ORIGIN }));
      const pvs = new Set([originPv]);
      for (const name of [RESTORED, CLONED]) {
        const c = await bound(name);
        pvs.add(c.spec.volumeName);
        assertEquals(await sumsOn(name, `${name}-read`), written, `${name}: not the bytes written`);
      }
      assertEquals(pvs.size, 3, `the claims share volumes: ${[...pvs].join(", ")}`);
    }),
});

Deno.test({
  name: "snapshots: deleting the original PVC and its pod leaves the restored and cloned PVCs intact",
  ignore,
  fn: () =>
    explain(async () => {
      assert(originPv, "needs the original claim (first test)");
      await kubectl(["-n", NS, "delete", "pod", ORIGIN, "--wait=true", "--timeout=120s"]);
      await kubectl(["-n", NS, "delete", "pvc", ORIGIN, "--wait=true", "--timeout=120s"]);
      await gone(`PV ${originPv} of the original claim`, ["get", "pv", originPv]);
      for (const name of [RESTORED, CLONED]) {
        assertEquals(
          await sumsOn(name, `${name}-reread`),
          written,
          `${name}: changed after the original went`,
        );
      }
    }),
});

Deno.test({
  name: "snapshots: deleting the snapshot and the claims removes their contents and volumes",
  ignore,
  fn: () =>
    explain(async () => {
      const snap = await getOrUndefined(["-n", NS, "get", "volumesnapshot", SNAPSHOT]);
      const content = snap?.status?.boundVolumeSnapshotContentName;
      const claims = [ORIGIN, RESTORED, CLONED];
      const pvs = (await Promise.all(claims.map((c) => getOrUndefined(["-n", NS, "get", "pvc", c]))))
        .map((c) => c?.spec?.volumeName).filter((v): v is string => !!v);
      await kubectl(["-n", NS, "delete", "volumesnapshot", SNAPSHOT, "--ignore-not-found", "--timeout=120s"]);
      if (content) await gone(`VolumeSnapshotContent ${content}`, ["get", "volumesnapshotcontent", content]);
      await kubectl(["-n", NS, "delete", "pod", ORIGIN, "--ignore-not-found", "--timeout=120s"]);
      await kubectl(["-n", NS, "delete", "pvc", ...claims, "--ignore-not-found", "--timeout=120s"]);
      for (const pv of pvs) await gone(`PV ${pv}`, ["get", "pv", pv]);
      await kubectl(["delete", "volumesnapshotclass", CLASS, "--ignore-not-found"]);
    }),
});

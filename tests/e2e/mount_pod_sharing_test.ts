// Mount Pods (--mount-mode=pod) as users see them: one per file system, mount options and pod
// settings on the node, shared by every volume that can share it; gone after the delay once
// nothing uses them; and a mount that cannot work says why on the app pod. The tests run in
// order and share their StorageClasses and claims.
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import {
  apply,
  events,
  exec,
  getJson,
  kubectl,
  NODE_NAME,
  type Obj,
  pvc,
  startPod,
  waitFor,
} from "./kube.ts";
import {
  appPod,
  DRIVER_NS,
  e2eFs,
  fsSecret,
  IDLE,
  mountPodsServing,
  mountPodsSince,
  mountPodUids,
  MountPodWatch,
  ownedSecrets,
  podModeIgnored as ignore,
  podModeSkipReason,
  secretValue,
  storageClass,
  volumeHandle,
  waitMountPodsGone,
} from "./mount_pods.ts";

if (ignore) {
  console.log(`Mount Pod cases (here and in mount_pod_survival_test.ts) skipped: ${podModeSkipReason}`);
}

const NS = "csi-jfs-e2e";
const SC_A = "e2e-mp-a";
const SC_B = "e2e-mp-b";
const SC_BAD = "e2e-mp-bad-meta";
const DELAY = { "juicefs/mount-delete-delay": "3s" };
const BAD_META_PASSWORD = secretValue("meta-password");

let baseline = new Set<string>();
const watch = new MountPodWatch();
const claimsA = ["mp-a1", "mp-a2"];
const tenClaims = Array.from({ length: 10 }, (_, i) => `mp-ten-${i}`);

async function explain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    console.error(
      `events in ${NS}:\n${await events(NS)}\nevents in ${DRIVER_NS}:\n${await events(DRIVER_NS)}`,
    );
    throw e;
  }
}

async function bound(names: string[]): Promise<void> {
  await waitFor(`claims ${names.join(", ")} to bind`, async () => {
    const items = (await getJson(["-n", NS, "get", "pvc"])).items as Obj[];
    const ok = names.every((n) => items.some((c) => c.metadata.name === n && c.status?.phase === "Bound"));
    return ok ? true : undefined;
  }, 180_000);
}

/** Starts pods with these claims, all at once, and checks each reads back what it wrote. */
async function runApps(pods: Obj[]): Promise<void> {
  await Promise.all(pods.map((p) => startPod(p)));
  await Promise.all(pods.map(async (p) => {
    const mounts: string[] = p.spec.containers[0].volumeMounts.map((m: Obj) => m.mountPath);
    for (const at of mounts) {
      const out = await exec(NS, p.metadata.name, [
        "sh",
        "-c",
        `echo ${p.metadata.name} > ${at}/written-by-${p.metadata.name} && cat ${at}/written-by-${p.metadata.name}`,
      ]);
      assertEquals(out.trim(), p.metadata.name, `pod ${p.metadata.name} at ${at}`);
    }
  }));
}

function describe(pods: Obj[]): string {
  return pods.map((p) => `${p.metadata.name} ${JSON.stringify(p.metadata.labels)}`).join("\n");
}

Deno.test({
  name: "three app pods on two PVCs of one StorageClass share exactly one Mount Pod",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      await apply(storageClass(SC_A, { mountOptions: ["cache-size=64"], params: DELAY }));
      await apply(storageClass(SC_B, { mountOptions: ["cache-size=128"], params: DELAY }));
      baseline = await mountPodUids();
      watch.start();
      for (const c of claimsA) await apply(pvc(NS, c, "1Gi", SC_A));
      await bound(claimsA);
      await runApps([
        appPod(NS, "mp-app-1", ["mp-a1"], IDLE),
        appPod(NS, "mp-app-2", ["mp-a1"], IDLE),
        appPod(NS, "mp-app-3", ["mp-a2"], IDLE),
      ]);
      // Two pods on one claim see one directory.
      const seen = await exec(NS, "mp-app-2", ["cat", "/data/written-by-mp-app-1"]);
      assertEquals(seen.trim(), "mp-app-1", "mp-app-2 does not see what mp-app-1 wrote on their claim");
      const made = await mountPodsSince(baseline);
      assertEquals(made.length, 1, `Mount Pods made for ${SC_A}:\n${describe(made)}`);
      const mp = made[0]!;
      assertEquals(mp.spec.nodeName, NODE_NAME);
      assertEquals(mp.metadata.labels["jfs.csi.dev/node"], NODE_NAME);
      assert(mp.metadata.labels["jfs.csi.dev/client"], `no jfs.csi.dev/client label: ${describe(made)}`);
      const args = JSON.stringify([mp.spec.containers[0].command, mp.spec.containers[0].args]);
      assertMatch(args, /--mode=mount-supervisor/, `the Mount Pod's command: ${args}`);
      const secrets = await ownedSecrets(new Set([mp.metadata.uid]));
      assertEquals(
        secrets.length,
        1,
        `Secrets owned by ${mp.metadata.name}: ${secrets.map((s) => s.metadata.name)}`,
      );
    }),
});

Deno.test({
  name: "a PVC of a StorageClass with other mountOptions gets a second Mount Pod",
  ignore,
  fn: () =>
    explain(async () => {
      await apply(pvc(NS, "mp-b1", "1Gi", SC_B));
      await bound(["mp-b1"]);
      await runApps([appPod(NS, "mp-app-4", ["mp-b1"], IDLE)]);
      const made = await mountPodsSince(baseline);
      assertEquals(made.length, 2, `Mount Pods made for ${SC_A} and ${SC_B}:\n${describe(made)}`);
      const keys = new Set(made.map((p) => p.metadata.labels["jfs.csi.dev/client"]));
      assertEquals(keys.size, 2, `the two Mount Pods share a client key:\n${describe(made)}`);
    }),
});

Deno.test({
  name: "ten PVCs staged at once still make one Mount Pod per client key",
  ignore,
  fn: () =>
    explain(async () => {
      for (const c of tenClaims) await apply(pvc(NS, c, "1Gi", SC_A));
      await bound(tenClaims);
      // One pod with ten volumes: kubelet stages them concurrently.
      await runApps([appPod(NS, "mp-app-ten", tenClaims, IDLE)]);
      const made = await mountPodsSince(baseline);
      assertEquals(made.length, 2, `Mount Pods after ten concurrent stages:\n${describe(made)}`);
      watch.add(made);
      const ever = [...watch.seen].filter(([uid]) => !baseline.has(uid));
      if (watch.errors.length) console.log(`the Mount Pod watch said: ${watch.errors.join("; ")}`);
      console.log(
        `Mount Pods ever created in these tests: ${ever.length} (${ever.map(([, n]) => n).join(", ")})`,
      );
      assertEquals(ever.length, 2, "a Mount Pod was created, deleted and made again");
    }),
});

Deno.test({
  name: "deleting the app pods and PVCs removes the Mount Pods after the delay, with their Secrets",
  ignore,
  fn: () =>
    explain(async () => {
      await watch.stop();
      const made = await mountPodsSince(baseline);
      const uids = new Set(made.map((p) => p.metadata.uid as string));
      const secrets = await ownedSecrets(uids);
      assertEquals(
        secrets.length,
        2,
        `Secrets of the two Mount Pods: ${secrets.map((s) => s.metadata.name)}`,
      );
      await kubectl([
        "-n",
        NS,
        "delete",
        "pod",
        "mp-app-1",
        "mp-app-2",
        "mp-app-3",
        "mp-app-4",
        "mp-app-ten",
      ]);
      await kubectl(["-n", NS, "delete", "pvc", ...claimsA, "mp-b1", ...tenClaims, "--timeout=180s"]);
      await waitMountPodsGone(uids);
      for (const s of secrets) {
        const left = await kubectl(["-n", DRIVER_NS, "get", "secret", s.metadata.name, "--ignore-not-found"]);
        assertEquals(left.trim(), "", `Secret ${s.metadata.name} outlived its Mount Pod`);
      }
    }),
});

Deno.test({
  name: "a StorageClass with a wrong metaurl: an Event on the app pod says why within 60 s",
  ignore,
  fn: () =>
    explain(async () => {
      // Provisioning uses the good file system; staging a client of the wrong one must fail. Port 1
      // on loopback: refused at once, on this machine.
      await apply(fsSecret("juicefs-e2e-bad-meta", {
        ...e2eFs(),
        metaurl: `redis://:${BAD_META_PASSWORD}@127.0.0.1:1/1`,
      }));
      await apply(storageClass(SC_BAD, { stageSecret: "juicefs-e2e-bad-meta", params: DELAY }));
      await apply(pvc(NS, "mp-bad", "1Gi", SC_BAD));
      await bound(["mp-bad"]);
      const handle = await volumeHandle(NS, "mp-bad");
      await apply(appPod(NS, "mp-bad-app", ["mp-bad"], IDLE));
      try {
        await badMountEvent();
      } finally {
        // The Mount Pod made for the wrong metaurl goes once nothing wants the volume.
        const made = new Set((await mountPodsServing(handle)).map((p) => p.metadata.uid as string));
        await kubectl(["-n", NS, "delete", "pod", "mp-bad-app", "--wait=true", "--timeout=120s"]);
        await waitFor("no Mount Pod of the wrong metaurl to be left", async () => {
          return (await mountPodsServing(handle)).length === 0 ? true : undefined;
        }, 120_000);
        await waitMountPodsGone(made);
        await kubectl(["-n", NS, "delete", "pvc", "mp-bad", "--timeout=180s"]);
      }
    }),
});

async function badMountEvent(): Promise<void> {
  const started = Date.now();
  const ev = await waitFor("an Event on mp-bad-app naming why its volume did not mount", async () => {
    const list = (await getJson([
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      "involvedObject.kind=Pod,involvedObject.name=mp-bad-app",
    ])).items as Obj[];
    return list.find((e) => e.type === "Warning" && /refused|127\.0\.0\.1:1|redis/i.test(e.message ?? ""));
  }, 150_000);
  const secs = (Date.now() - started) / 1000;
  console.log(`after ${secs.toFixed(1)} s: ${ev.reason}: ${ev.message}`);
  assert(!ev.message.includes(BAD_META_PASSWORD), "the Event quotes the metadata password");
  // Issue 6 asks for the reason on the app pod within 60 s; waiting longer shows how late it is.
  assert(secs <= 60, `the Event came after ${secs.toFixed(1)} s, not within 60 s`);
}

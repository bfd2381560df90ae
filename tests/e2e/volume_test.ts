// One volume's life through the real cluster: provision, write, read back from another pod,
// mount read-only, expand, delete. The tests run in order and share the claim.
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import { apply, events, getJson, getOrUndefined, kubectl, pvc, runPod, shellPod, waitFor } from "./kube.ts";
import { rootEntries } from "./juicefs_meta.ts";

const NS = "csi-jfs-e2e";
const CLAIM = "data";
const DIR = `${NS}-${CLAIM}`; // the StorageClass's pathPattern: ${pvc.namespace}-${pvc.name}
const ignore = Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1";
const token = crypto.randomUUID();
let pvName = "";
let written = "";

async function explain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    console.error(`events in ${NS}:\n${await events(NS)}`);
    throw e;
  }
}

async function dfKiB(pod: string): Promise<number> {
  const r = await runPod(shellPod(NS, pod, CLAIM, "df -k /data | tail -n 1"));
  assertEquals(r.phase, "Succeeded", `df pod: ${r.log}`);
  const size = Number(r.log.trim().split(/\s+/)[1]);
  assert(Number.isFinite(size) && size > 0, `df output: ${r.log}`);
  return size;
}

Deno.test({
  name: "a StorageClass backed by the embedded JuiceFS provisions a PVC",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      await apply(pvc(NS, CLAIM, "1Gi"));
      const claim = await waitFor("the claim to bind", async () => {
        const c = await getJson(["-n", NS, "get", "pvc", CLAIM]);
        return c.status?.phase === "Bound" ? c : undefined;
      }, 180_000);
      pvName = claim.spec.volumeName;
      const pv = await getJson(["get", "pv", pvName]);
      assertEquals(pv.spec.csi.driver, "jfs.csi.dev");
      assertEquals(pv.spec.persistentVolumeReclaimPolicy, "Delete");
      assert((await rootEntries()).includes(DIR), `no directory ${DIR} in the file system root`);
    }),
});

Deno.test({
  name: "a pod writes a file and exits",
  ignore,
  fn: () =>
    explain(async () => {
      assert(pvName, "needs the bound claim (first test)");
      const r = await runPod(shellPod(
        NS,
        "writer",
        CLAIM,
        `set -e; head -c 1048576 /dev/urandom > /data/blob; echo ${token} > /data/hello; sync
         sha256sum /data/blob | cut -d' ' -f1`,
      ));
      assertEquals(r.phase, "Succeeded", `writer log: ${r.log}`);
      written = r.log.trim();
      assertMatch(written, /^[0-9a-f]{64}$/);
    }),
});

Deno.test({
  name: "a second pod on the same PVC reads the same bytes",
  ignore,
  fn: () =>
    explain(async () => {
      assert(written, "needs the writer's checksum (previous test)");
      const r = await runPod(shellPod(NS, "reader", CLAIM, "set -e; cat /data/hello; sha256sum /data/blob"));
      assertEquals(r.phase, "Succeeded", `reader log: ${r.log}`);
      const [hello, sum] = r.log.trim().split("\n");
      assertEquals(hello, token);
      assertEquals(sum?.split(/\s+/)[0], written);
    }),
});

Deno.test({
  name: "a read-only mount refuses writes",
  ignore,
  fn: () =>
    explain(async () => {
      assert(pvName, "needs the bound claim (first test)");
      const r = await runPod(shellPod(
        NS,
        "read-only",
        CLAIM,
        `cat /data/hello || exit 3
         if touch /data/must-not-exist 2>/dev/null; then echo WRITABLE; exit 1; fi
         grep ' /data ' /proc/mounts`,
        true,
      ));
      assertEquals(r.phase, "Succeeded", `read-only pod log: ${r.log}`);
      const [hello, mount] = r.log.trim().split("\n");
      assertEquals(hello, token);
      assertMatch(mount ?? "", /\sro[,\s]/, "the /data mount is not flagged ro");
    }),
});

Deno.test({
  name: "resizing the PVC raises the size the pod sees in df",
  ignore,
  fn: () =>
    explain(async () => {
      assert(pvName, "needs the bound claim (first test)");
      const before = await dfKiB("df-before");
      await kubectl([
        "-n",
        NS,
        "patch",
        "pvc",
        CLAIM,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}',
      ]);
      await waitFor("the claim's capacity to reach 2Gi", async () => {
        const c = await getJson(["-n", NS, "get", "pvc", CLAIM]);
        return c.status?.capacity?.storage === "2Gi" ? true : undefined;
      }, 180_000);
      const after = await dfKiB("df-after");
      assert(after > before, `df size did not grow: ${before} KiB before, ${after} KiB after`);
      assert(after >= 2 * 1024 * 1024 * 0.95, `df size after expansion to 2Gi is ${after} KiB`);
    }),
});

Deno.test({
  name: "deleting the PVC with reclaimPolicy Delete removes the directory",
  ignore,
  fn: () =>
    explain(async () => {
      assert(pvName, "needs the bound claim (first test)");
      await kubectl(["-n", NS, "delete", "pvc", CLAIM, "--wait=true", "--timeout=120s"]);
      await waitFor(`PV ${pvName} to be deleted`, async () => {
        return (await getOrUndefined(["get", "pv", pvName])) === undefined ? true : undefined;
      }, 180_000);
      const entries = await rootEntries();
      assert(
        !entries.includes(DIR),
        `directory ${DIR} is still in the file system root: ${entries.join(", ")}`,
      );
    }),
});

// What Mount Pod mode is for: the app's mount outlives its JuiceFS client being killed, its
// Mount Pod being deleted, and the node plugin being replaced, without the app restarting.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import {
  apply,
  events,
  exec,
  getJson,
  kubectl,
  type Obj,
  pvc,
  runPod,
  shellPod,
  startPod,
  waitFor,
} from "./kube.ts";
import {
  appPod,
  DRIVER_NS,
  logLines,
  mountPodsServing,
  mountPodUids,
  podModeIgnored as ignore,
  podProcesses,
  storageClass,
  UPTIME,
  volumeHandle,
} from "./mount_pods.ts";

const NS = "csi-jfs-e2e";
const SC = "e2e-mp-survival";

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

async function claim(name: string): Promise<void> {
  await apply(pvc(NS, name, "1Gi", SC));
  await waitFor(`claim ${name} to bind`, async () => {
    const c = await getJson(["-n", NS, "get", "pvc", name]);
    return c.status?.phase === "Bound" ? true : undefined;
  }, 180_000);
}

// Writes 64 KiB files with fsync until /tmp/stop appears; "ok N SUM T" once file N is fsynced,
// "fail N T" when a write or fsync fails. Retrying keeps the loop going through an outage.
const WRITER = `mkdir -p /data/w; i=0
while [ ! -e /tmp/stop ]; do
  i=$((i+1))
  head -c 65536 /dev/urandom > /tmp/blk
  if dd if=/tmp/blk of=/data/w/$i bs=65536 conv=fsync 2>/dev/null; then
    echo "ok $i $(sha256sum /tmp/blk | cut -d' ' -f1) $(${UPTIME})"
  else
    echo "fail $i $(${UPTIME})"
  fi
  sleep 0.2
done
echo done; while :; do sleep 1; done`;

/** The longest stretch without a fsynced write that ends in [from, to) (uptime seconds): the
 * outage the writer saw around an event at `from`. */
function longestGap(okLines: string[], from: number, to = Infinity): number {
  const times = okLines.map((l) => Number(l.split(" ")[3]));
  let gap = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i]! >= from && times[i]! < to) gap = Math.max(gap, times[i]! - times[i - 1]!);
  }
  return gap;
}

async function hostUptime(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
}

async function okLines(pod: string): Promise<string[]> {
  return (await kubectl(["-n", NS, "logs", pod])).split("\n").filter((l) => l.startsWith("ok "));
}

async function moreOk(pod: string, after: number, what: string): Promise<void> {
  const have = (await okLines(pod)).length;
  await logLines(NS, pod, /^ok /, Math.max(have, after) + 5, 120_000).catch((e) => {
    throw new Error(`the writer's I/O did not resume ${what}: ${e}`);
  });
}

Deno.test({
  name: "a writer's fsynced files survive kill -9 of juicefs and a forced delete of its Mount Pod",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      await apply(storageClass(SC, { mountOptions: ["cache-size=32"] }));
      await claim("mp-writer");
      const handle = await volumeHandle(NS, "mp-writer");
      await startPod(appPod(NS, "mp-writer", ["mp-writer"], WRITER));
      await logLines(NS, "mp-writer", /^ok /, 5);
      const serving = await mountPodsServing(handle);
      assertEquals(serving.length, 1, `Mount Pods serving ${handle}: ${serving.map((p) => p.metadata.name)}`);
      const mp = serving[0]!;

      const pids = await podProcesses(mp.metadata.uid, "juicefs");
      assert(pids.length > 0, `no juicefs process in Mount Pod ${mp.metadata.name}`);
      const killedAt = await hostUptime();
      for (const pid of pids) Deno.kill(pid, "SIGKILL");
      console.log(`killed juicefs (pids ${pids.join(", ")}) in ${mp.metadata.name}`);
      await moreOk("mp-writer", 0, "after kill -9 of juicefs");

      const deletedAt = await hostUptime();
      await kubectl(["-n", DRIVER_NS, "delete", "pod", mp.metadata.name, "--force", "--grace-period=0"]);
      console.log(`deleted Mount Pod ${mp.metadata.name} with --force --grace-period=0`);
      const again = await waitFor("a new Mount Pod for the writer's client", async () => {
        const now = (await mountPodsServing(handle)).filter((p) => p.metadata.uid !== mp.metadata.uid);
        return now.length === 1 && now[0]!.status?.phase === "Running" ? now[0] : undefined;
      }, 120_000);
      await moreOk("mp-writer", 0, "after the Mount Pod was deleted");

      await exec(NS, "mp-writer", ["touch", "/tmp/stop"]);
      await logLines(NS, "mp-writer", /^done$/, 1);
      const oks = await okLines("mp-writer");
      const fails = (await kubectl(["-n", NS, "logs", "mp-writer"])).split("\n").filter((l) =>
        l.startsWith("fail ")
      );
      const sums = await exec(NS, "mp-writer", ["sh", "-c", "cd /data/w && sha256sum $(ls | sort -n)"]);
      const have = new Map(
        sums.trim().split("\n").map((l) => {
          const [sum, file] = l.split(/\s+/);
          return [file, sum] as const;
        }),
      );
      const bad = oks.filter((l) => {
        const [, n, sum] = l.split(" ");
        return have.get(n!) !== sum;
      });
      const pod = await getJson(["-n", NS, "get", "pod", "mp-writer"]);
      const restarts = pod.status.containerStatuses?.[0]?.restartCount;
      console.log(
        `writer: ${oks.length} files fsynced, ${fails.length} failed writes; longest stall ` +
          `${longestGap(oks, killedAt, deletedAt).toFixed(2)} s around the kill, ` +
          `${longestGap(oks, deletedAt).toFixed(2)} s around the Mount Pod deletion ` +
          `(replacement ${again.metadata.name}), restarts ${restarts}`,
      );
      assertEquals(bad, [], `fsynced files that do not read back with their checksum`);
      assertEquals(restarts, 0, "the writer pod restarted");
      await kubectl(["-n", NS, "delete", "pod", "mp-writer", "--wait=true", "--timeout=120s"]);
      await kubectl(["-n", NS, "delete", "pvc", "mp-writer", "--timeout=180s"]);
    }),
});

// Reads one file in a loop until /tmp/stop appears; a line per failed read, a count every 50.
const READER = `set -u; want=$(sha256sum /data/blob | cut -d' ' -f1); n=0; bad=0
while [ ! -e /tmp/stop ]; do
  n=$((n+1))
  got=$(cat /data/blob | sha256sum | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then bad=$((bad+1)); echo "failed read $n at $(${UPTIME})"; fi
  [ $((n % 50)) -eq 0 ] && echo "reads $n"
  sleep 0.05
done
echo "total $n failed $bad"; while :; do sleep 1; done`;

Deno.test({
  name: "a reader sees no failed read while the node plugin pod is deleted and recreated",
  ignore,
  fn: () =>
    explain(async () => {
      await claim("mp-reader");
      const w = await runPod(
        shellPod(NS, "mp-reader-fill", "mp-reader", "head -c 1048576 /dev/urandom > /data/blob"),
      );
      assertEquals(w.phase, "Succeeded", `fill: ${w.log}`);
      await startPod(appPod(NS, "mp-reader", ["mp-reader"], READER));
      await logLines(NS, "mp-reader", /^reads /, 1);
      const mountPodsBefore = await mountPodUids();

      const plugin = (await getJson(["-n", DRIVER_NS, "get", "pods", "-l", "app=csi-jfs-node"]))
        .items as Obj[];
      assertEquals(plugin.length, 1, "node plugin pods");
      await kubectl([
        "-n",
        DRIVER_NS,
        "delete",
        "pod",
        plugin[0].metadata.name,
        "--wait=true",
        "--timeout=120s",
      ]);
      await kubectl(
        ["-n", DRIVER_NS, "rollout", "status", "daemonset/csi-jfs-node", "--timeout=180s"],
        undefined,
        200_000,
      );
      await waitFor("the new node plugin pod to be Ready", async () => {
        const now = (await getJson(["-n", DRIVER_NS, "get", "pods", "-l", "app=csi-jfs-node"]))
          .items as Obj[];
        const ready = now.filter((p) =>
          p.metadata.uid !== plugin[0].metadata.uid &&
          (p.status?.conditions ?? []).some((c: Obj) => c.type === "Ready" && c.status === "True")
        );
        return ready.length === 1 ? true : undefined;
      }, 180_000);
      const readsNow = (await logLines(NS, "mp-reader", /^reads /, 1)).length;
      await logLines(NS, "mp-reader", /^reads /, readsNow + 2);

      // The new plugin adopted the running Mount Pods (none made again, none added) and stages anew.
      const fresh = await runPod(shellPod(NS, "mp-after-restart", "mp-reader", "cat /data/blob | wc -c"));
      assertEquals(fresh.phase, "Succeeded", `a pod staged after the restart: ${fresh.log}`);
      assertEquals(fresh.log.trim(), "1048576");
      const mountPodsAfter = await mountPodUids();
      assertEquals(
        [...mountPodsAfter].sort(),
        [...mountPodsBefore].sort(),
        "Mount Pods changed over the restart",
      );

      await exec(NS, "mp-reader", ["touch", "/tmp/stop"]);
      const [total] = await logLines(NS, "mp-reader", /^total /, 1);
      console.log(`reader across the node plugin restart: ${total}`);
      const failed = (await kubectl(["-n", NS, "logs", "mp-reader"])).split("\n").filter((l) =>
        l.startsWith("failed ")
      );
      assertEquals(failed, [], "failed reads");
      assert(/ failed 0$/.test(total ?? ""), `reader summary: ${total}`);
      await kubectl(["-n", NS, "delete", "pod", "mp-reader", "--wait=true", "--timeout=120s"]);
      await kubectl(["-n", NS, "delete", "pvc", "mp-reader", "--timeout=180s"]);
    }),
});

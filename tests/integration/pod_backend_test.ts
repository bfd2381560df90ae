// The pod backend with real parts except the API server: the in-memory Kube plays it, and a
// small kubelet stand-in runs each Mount Pod as what its spec says, a real
// `bin/csi-jfs --mode=mount-supervisor` with the args of the pod and its settings from the
// pod's Secret by env, serving a real JuiceFS (sqlite3 + a local directory) over real FUSE,
// with the real FUSE fd keeper in this process. Shown: a stage waits for the real mount; a
// Mount Pod killed whole and force-deleted is created again by the watch and the existing bind
// (what an app pod sees) works again with its data, no new bind; a node plugin restart adopts
// the pod and repairs a second force-delete; the release unmounts and leaves nothing.
// Needs root, /dev/fuse and the pinned juicefs; ignored otherwise.
import nodeAssert from "node:assert/strict";
import { join } from "node:path";
import { CACHE, JUICEFS, ROOT } from "../support/driver.ts";
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { settingsFromSecrets } from "../../lib/juicefs/settings.ts";
import { FakeKube } from "../../lib/kube/fake_kube.ts";
import type { V1Pod } from "../../lib/kube/kube.ts";
import { PodBackend } from "../../lib/clients/pod_backend.ts";
import { FuseFdKeeper } from "../../lib/clients/fuse_fd_keeper.ts";
import { ExecMounter } from "../../lib/mount/mounter.ts";
import { clientKey, type ClientSpec } from "../../lib/clients/backend.ts";
import { mountPodSettings } from "../../lib/clients/pod_settings.ts";
import { CONTAINER } from "../../lib/clients/pod_spec.ts";
import { juicefsPids, mustRun, run } from "../support/processes.ts";
import { eventually } from "../support/eventually.ts";

function ignoreReason(): string | null {
  try {
    if (Deno.uid() !== 0) return "needs root";
    Deno.statSync("/dev/fuse");
    Deno.statSync(JUICEFS);
  } catch (e) {
    return String(e);
  }
  return null;
}
const ignore = ignoreReason();
if (ignore !== null) console.warn(`pod_backend_test ignored: ${ignore}`);
void CACHE;

const NS = "csi-jfs";

const mounts = () => parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"));

/** The kubelet stand-in: a pod is a supervisor process; its log is the pod log. */
class ProcessKubelet {
  readonly procs = new Map<string, Deno.ChildProcess>();
  private n = 0;

  constructor(private kube: FakeKube, private dir: string) {
    kube.onCreatePod = (pod) => void this.start(pod);
    kube.onDeletePod = (pod) => this.stop(pod.metadata!.name!, "SIGTERM");
    kube.podLogTail = (_ns, name, _c, lines) =>
      Deno.readTextFile(this.logOf(name)).then((t) => t.split("\n").slice(-lines).join("\n"), () => "");
  }

  logOf(name: string): string {
    return join(this.dir, `${name}.log`);
  }

  private async start(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const uid = pod.metadata!.uid;
    // CreateContainerConfigError until the Secret is there, as kubelet does.
    let settings: string | undefined;
    for (let i = 0; i < 600 && !settings; i++) {
      settings = this.kube.secrets.get(`${NS}/${name}`)?.stringData?.["settings.json"];
      if (!settings) await new Promise((r) => setTimeout(r, 50));
    }
    if (!settings || this.kube.pods.get(`${NS}/${name}`)?.metadata?.uid !== uid) return;
    const run = join(this.dir, `run-${++this.n}`);
    await Deno.mkdir(run, { recursive: true });
    const args = pod.spec!.containers[0]!.args!.map((a) =>
      a.startsWith("--fd-socket=") ? `--fd-socket=${run}/fuse-fd.sock` : a
    );
    const child = new Deno.Command("bash", {
      args: ["-c", `exec "$0" "$@" 2>>"${this.logOf(name)}"`, join(ROOT, "bin/csi-jfs"), ...args],
      env: { CSI_JFS_SUPERVISOR_SETTINGS: settings },
      stdin: "null",
      stdout: "null",
    }).spawn();
    this.procs.set(name, child);
    this.kube.setPodStatus(NS, name, {
      phase: "Running",
      containerStatuses: [{
        name: CONTAINER,
        ready: true,
        restartCount: 0,
        image: "i",
        imageID: "",
        state: { running: {} },
      }],
    });
  }

  /** Stops the pod's supervisor (SIGTERM: a graceful delete; SIGKILL: the pod lost whole). */
  async stop(name: string, sig: Deno.Signal): Promise<void> {
    const p = this.procs.get(name);
    if (!p) return;
    this.procs.delete(name);
    try {
      p.kill(sig);
    } catch { /* gone */ }
    const t = setTimeout(() => {
      try {
        p.kill("SIGKILL");
      } catch { /* gone */ }
    }, 60_000);
    await p.status;
    clearTimeout(t);
  }
}

Deno.test({
  name:
    "pod backend: real supervisors as Mount Pods survive a force delete, a plugin restart, and release cleanly",
  ignore: ignore !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csi-jfs-podbackend-" }));
    const state = join(dir, "state");
    const target = join(dir, "target");
    const meta = `sqlite3://${dir}/meta.db`;
    await Deno.mkdir(target, { recursive: true });
    await mustRun(JUICEFS, ["format", meta, "vol", "--storage", "file", "--bucket", `${dir}/bucket/`]);
    const kube = new FakeKube();
    const kubelet = new ProcessKubelet(kube, dir);
    const mounter = new ExecMounter();
    const make = () =>
      new PodBackend({
        kube,
        namespace: NS,
        nodeName: "node-1",
        stateDir: state,
        image: "csi-jfs:test",
        mounter,
        keeper: new FuseFdKeeper(join(state, "fd-keeper")),
        readyTimeoutMs: 60_000,
        supervisorArgs: [`--juicefs=${JUICEFS}`, "--log-level=debug"],
      });
    const spec: ClientSpec = {
      settings: settingsFromSecrets({ name: "vol", metaurl: meta }),
      mountFlags: [],
      podSettings: mountPodSettings({ mountCacheDir: `${dir}/cache` }),
    };
    const key = clientKey(spec);
    let backend = make();
    let ok = false;
    try {
      await backend.start();
      const m = await backend.ensure(spec, { volumeId: "vol-1" });
      await mustRun("mkdir", ["-p", `${m.mountPath}/vol1`], 10_000);
      await mustRun("mount", ["--bind", `${m.mountPath}/vol1`, target], 10_000);
      await mustRun("sh", ["-c", 'printf before >"$1/old.txt"', "sh", target], 10_000);
      const name = [...kube.pods.values()][0]!.metadata!.name!;

      const outage = async (round: string) => {
        const keeper = backend.o.keeper as FuseFdKeeper;
        await eventually("the keeper holding the FUSE fd", 20_000, () => keeper.holds(key) || undefined);
        // The pod lost whole, then force-deleted: nobody asked the supervisor to hand over.
        const killedAt = Date.now();
        await kubelet.stop(name, "SIGKILL");
        for (const pid of juicefsPids(m.mountPath)) Deno.kill(pid, "SIGKILL");
        await eventually("juicefs gone", 10_000, () => juicefsPids(m.mountPath).length === 0 || undefined);
        await kube.deletePod(NS, name, { gracePeriodSeconds: 0 });
        const content = await eventually(`${round}: the old file through the bind`, 60_000, async () => {
          const r = await run("cat", [`${target}/old.txt`], 2_000);
          return r.code === 0 ? r.out : undefined;
        });
        nodeAssert.equal(content, "before");
        // A create needs the daemon (a read may come from the page cache): the new pod's juicefs serves.
        const file = `${target}/${round.replace(/\W+/g, "-")}.txt`;
        await eventually(
          `${round}: a new file through the bind`,
          60_000,
          async () => (await run("sh", ["-c", 'printf x >"$1"', "sh", file], 2_000)).code === 0 || undefined,
        );
        const served = Date.now() - killedAt;
        nodeAssert.ok(juicefsPids(m.mountPath).length > 0, "a new juicefs serves the mount");
        nodeAssert.ok(mounts().some((e) => e.mountPoint === target), "the bind is the same mount");
        console.log(
          `${round}: the bind served again (read + create) ${served} ms after the Mount Pod was killed`,
        );
      };
      await outage("force delete");
      nodeAssert.equal(kube.calls.get("createPod"), 2);

      // The node plugin restarts: a new backend and keeper adopt the pod; the supervisor offers its fd.
      await backend.stop();
      backend = make();
      await backend.start();
      nodeAssert.ok(backend.clients.has(key), "adopted");
      await outage("force delete after a plugin restart");
      nodeAssert.equal(kube.calls.get("createPod"), 3);
      await mustRun("sh", ["-c", 'printf after >"$1/new.txt"', "sh", target], 10_000);

      // Release: the supervisor unmounts (release file), the pod and its Secret go, nothing is left.
      await mustRun("umount", [target], 10_000);
      await backend.release(key);
      nodeAssert.equal(kube.pods.size, 0);
      nodeAssert.equal(kube.secrets.size, 0);
      nodeAssert.ok(!mounts().some((e) => e.mountPoint.startsWith(`${dir}/`)), "nothing mounted");
      ok = true;
    } finally {
      await backend.stop();
      for (const n of [...kubelet.procs.keys()]) await kubelet.stop(n, "SIGKILL");
      for (const e of mounts().filter((e) => e.mountPoint.startsWith(`${dir}/`)).reverse()) {
        await run("umount", ["-l", e.mountPoint], 10_000);
      }
      if (!ok) {
        for await (const f of Deno.readDir(dir)) {
          if (f.name.endsWith(".log")) {
            console.error(`--- ${f.name}\n${await Deno.readTextFile(join(dir, f.name))}`);
          }
        }
      }
      if (!mounts().some((e) => e.mountPoint.startsWith(`${dir}/`))) {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});

// The real program (bin/csi-jfs) as controller and node on the embedded default, driven
// over CSI for the benchmark, with what a benchmark needs beyond the test driver: pids for
// RSS, restarts, and the floors (bare juicefs mount, by-hand quota) on the same file system.
import type * as grpc from "@grpc/grpc-js";
import { call, connect, mountCapability } from "../lib/testing/grpc_client.ts";
import { parseMountinfo } from "../lib/mount/mountinfo.ts";
import { sh, timed, timedCmd } from "./exec.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs";
const JUICEFS = `${CACHE}/bin/juicefs`;
const CAP = mountCapability("MULTI_NODE_MULTI_WRITER");
const GiB = 1024 ** 3;

export interface Volume {
  volume_id: string;
  volume_context: Record<string, string>;
}

interface Served {
  socket: string;
  proc: Deno.ChildProcess;
  client: grpc.Client;
  close(): void;
}

async function waitSocket(path: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await Deno.lstat(path).then((s) => s.isSocket, () => false)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no socket at ${path}`);
}

async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** RSS, PSS (shared pages split among their users) and private memory, MiB. */
export interface Memory {
  rss: number;
  pss: number;
  private: number;
}

async function memoryOf(pid: number): Promise<Memory> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return {
    rss: kb("Rss") / 1024,
    pss: kb("Pss") / 1024,
    private: (kb("Private_Clean") + kb("Private_Dirty")) / 1024,
  };
}

/** Pids whose command line holds every one of `parts`. */
async function pidsWith(...parts: string[]): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (parts.every((p) => cmd.includes(p))) out.push(Number(e.name));
  }
  return out;
}

export class BenchDriver {
  private controller!: Served;
  private node!: Served;
  private seq = 0;

  private constructor(readonly dir: string, readonly secrets: Record<string, string>) {}

  static async start(): Promise<BenchDriver> {
    const dir = await Deno.makeTempDir({ prefix: "csi-jfs-bench-" });
    const d = new BenchDriver(dir, {
      name: "benchfs",
      metaurl: `sqlite3://${dir}/meta.db`,
      storage: "file",
      bucket: `${dir}/bucket/`,
    });
    d.controller = await d.serve("controller", "Controller", []);
    // BENCH_NODE_DENO_ARGS: extra `deno run` flags for the node plugin alone (--cpu-prof, --inspect).
    const nodeArgs = Deno.env.get("BENCH_NODE_DENO_ARGS");
    d.node = await d.serve("node", "Node", ["--nodeid=bench-node", "--mount-mode=process"], "state", {
      ...(nodeArgs ? { CSI_JFS_DENO_ARGS: nodeArgs } : {}),
    });
    return d;
  }

  private async serve(
    mode: string,
    service: "Controller" | "Node",
    extra: string[],
    state = "state",
    env: Record<string, string> = {},
  ) {
    const socket = `${this.dir}/${mode}-${this.seq++}.sock`;
    const proc = new Deno.Command(`${ROOT}/bin/csi-jfs`, {
      args: [
        `--mode=${mode}`,
        `--endpoint=unix://${socket}`,
        `--juicefs=${JUICEFS}`,
        `--state-dir=${this.dir}/${state}`,
        "--log-level=info",
        ...extra,
      ],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Each process drains into its own file: a stderr pipe nobody reads fills up and blocks the
    // process at its next log line (a writable stream shared by two processes stays locked by one).
    const log = await Deno.open(`${this.dir}/${mode}-${this.seq - 1}.log`, { create: true, write: true });
    void proc.stderr.pipeTo(log.writable).catch(() => {});
    const out = await Deno.open(`${this.dir}/${mode}-${this.seq - 1}.out`, { create: true, write: true });
    void proc.stdout.pipeTo(out.writable).catch(() => {});
    await waitSocket(socket);
    const clients = connect(socket);
    return {
      socket,
      proc,
      client: service === "Controller" ? clients.controller : clients.node,
      close: clients.close,
    };
  }

  private static async stopServed(s: Served): Promise<void> {
    s.close();
    try {
      s.proc.kill("SIGTERM");
    } catch { /* gone */ }
    await s.proc.status;
  }

  async create(name: string): Promise<Volume> {
    const res = await call<{ volume: Volume }>(this.controller.client, "CreateVolume", {
      name,
      capacity_range: { required_bytes: String(GiB) },
      volume_capabilities: [CAP],
      parameters: {},
      secrets: this.secrets,
    });
    return res.volume;
  }

  async delete(v: Volume): Promise<void> {
    await call(this.controller.client, "DeleteVolume", { volume_id: v.volume_id, secrets: this.secrets });
  }

  /** CreateSnapshot of `v` (issue 10); returns the snapshot id. */
  async snapshot(v: Volume, name: string): Promise<string> {
    const res = await call<{ snapshot: { snapshot_id: string } }>(this.controller.client, "CreateSnapshot", {
      name,
      source_volume_id: v.volume_id,
      secrets: this.secrets,
    });
    return res.snapshot.snapshot_id;
  }

  async stage(v: Volume, staging = `${this.dir}/staging/${v.volume_context["subdir"]}`): Promise<string> {
    await call(this.node.client, "NodeStageVolume", {
      volume_id: v.volume_id,
      staging_target_path: staging,
      volume_capability: CAP,
      secrets: this.secrets,
      volume_context: v.volume_context,
    });
    return staging;
  }

  async unstage(v: Volume, staging: string): Promise<void> {
    await call(this.node.client, "NodeUnstageVolume", {
      volume_id: v.volume_id,
      staging_target_path: staging,
    });
  }

  async publish(v: Volume, staging: string, target: string): Promise<void> {
    await call(this.node.client, "NodePublishVolume", {
      volume_id: v.volume_id,
      staging_target_path: staging,
      target_path: target,
      volume_capability: CAP,
      readonly: false,
      volume_context: v.volume_context,
    });
  }

  async unpublish(v: Volume, target: string): Promise<void> {
    await call(this.node.client, "NodeUnpublishVolume", { volume_id: v.volume_id, target_path: target });
  }

  /** JuiceFS clients the node runs: its mount-supervisor processes. */
  async clientCount(): Promise<number> {
    return (await pidsWith("--mode=mount-supervisor", `${this.dir}/state/clients/`)).length;
  }

  async waitNoClients(): Promise<void> {
    for (let i = 0; i < 300 && (await this.clientCount()) > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async supervisorMemory(): Promise<Memory> {
    const [pid] = await pidsWith("--mode=mount-supervisor", `${this.dir}/state/clients/`);
    return pid === undefined ? { rss: NaN, pss: NaN, private: NaN } : await memoryOf(pid);
  }

  /**
   * The floor of a Deno process's memory: the same runtime with the supervisor's V8 flags,
   * running an empty timer, after it settled.
   */
  async bareDenoMemory(): Promise<Memory> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--v8-flags=--max-semi-space-size=1,--optimize-for-size,--lite-mode",
        "setTimeout(() => {}, 60_000)",
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 2000));
      return await memoryOf(child.pid);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  }

  rssMiB(which: "node" | "controller"): Promise<number> {
    return rssOf((which === "node" ? this.node : this.controller).proc.pid);
  }

  /** The floor of a cold stage: `juicefs mount -d` of the file system and one bind, by hand. */
  async bareMountAndBind(target: string): Promise<number> {
    const mnt = `${this.dir}/bare-mnt`;
    await Deno.mkdir(mnt, { recursive: true });
    await Deno.mkdir(target, { recursive: true });
    const elapsed = await timed(async () => {
      await timedCmd(JUICEFS, ["mount", "-d", "--no-usage-report", this.secrets["metaurl"]!, mnt]);
      await timedCmd("mount", ["--bind", mnt, target]);
    });
    await sh(`umount ${target} && umount ${mnt}`);
    return elapsed;
  }

  /** The floor of CreateVolume: the quota command the driver would run, by hand. */
  byHandCreate(name: string): Promise<number> {
    return timedCmd(JUICEFS, [
      "quota",
      "set",
      this.secrets["metaurl"]!,
      "--path",
      `/${name}`,
      "--capacity",
      `${GiB}B`,
      "--create",
    ]);
  }

  /** The node's own client mount (the floor for throughput: no bind in between). */
  async bareClientMount(): Promise<string> {
    const entries = parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"));
    const m = entries.find((e) =>
      e.fsType === "fuse.juicefs" && e.mountPoint.startsWith(`${this.dir}/state/clients/`)
    );
    if (!m) throw new Error("no client mount of the node found");
    return m.mountPoint;
  }

  /** Sequential write (fsync'd) then read (page cache dropped) of `mib` MiB; MiB/s each. */
  async ddThroughput(dir: string, mib: number): Promise<{ write: number; read: number }> {
    const f = `${dir}/bench-dd-${this.seq++}`;
    const w = await timedCmd("dd", ["if=/dev/zero", `of=${f}`, "bs=1M", `count=${mib}`, "conv=fsync"]);
    await sh("sync; echo 3 > /proc/sys/vm/drop_caches");
    const r = await timedCmd("dd", [`if=${f}`, "of=/dev/null", "bs=1M"]);
    await Deno.remove(f);
    return { write: mib / (w / 1000), read: mib / (r / 1000) };
  }

  async restartController(): Promise<void> {
    await BenchDriver.stopServed(this.controller);
    // The controller's admin mounts are its children by design; a cold start has none.
    for (const pid of await pidsWith("--mode=mount-supervisor", `${this.dir}/state/controller/`)) {
      Deno.kill(pid, "SIGTERM");
    }
    for (
      let i = 0;
      i < 200 && (await pidsWith("--mode=mount-supervisor", `${this.dir}/state/controller/`)).length;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.controller = await this.serve("controller", "Controller", []);
  }

  /** A fresh node plugin (its own state) from exec to the first answered Probe. */
  async nodeStartupMs(): Promise<number> {
    const t0 = performance.now();
    const s = await this.serve("node", "Node", ["--nodeid=bench-startup"], `startup-${this.seq}`);
    const clients = connect(s.socket);
    await call(clients.identity, "Probe", {});
    const elapsed = performance.now() - t0;
    clients.close();
    await BenchDriver.stopServed(s);
    return elapsed;
  }

  async stop(): Promise<void> {
    await BenchDriver.stopServed(this.controller).catch(() => {});
    await BenchDriver.stopServed(this.node).catch(() => {});
    // Clients outlive their plugin by design: stop them as an operator would.
    for (const pid of await pidsWith("--mode=mount-supervisor", this.dir)) Deno.kill(pid, "SIGTERM");
    for (let i = 0; i < 200 && (await pidsWith("--mode=mount-supervisor", this.dir)).length; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const mounts = parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"))
      .map((e) => e.mountPoint).filter((p) => p.startsWith(this.dir)).sort().reverse();
    for (const m of mounts) await sh(`umount -l ${m}`).catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

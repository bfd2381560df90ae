// Starts the real program (bin/csi-jfs) as controller and node on the embedded default
// (sqlite3 metadata, a local directory as object storage) and talks CSI to them.
import * as grpc from "@grpc/grpc-js";
import { loadCsi } from "../../lib/csi/proto.ts";
import { call, CallError, mountCapability } from "../../lib/testing/grpc_client.ts";
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const CACHE = Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs";
export const JUICEFS = `${CACHE}/bin/juicefs`;

const csi = loadCsi().csi.v1;
export { call, CallError };

/** Resolves with the code name of the rejection ("OK" on success). */
export async function codeOfCall(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (e) {
    if (e instanceof CallError) return e.code;
    throw e;
  }
}

export interface Driver {
  dir: string;
  secrets: Record<string, string>;
  controller: grpc.Client;
  node: grpc.Client;
  logs(): Promise<string>;
  /** Stops and starts the node plugin (clients must survive and be adopted). */
  restartNode(): Promise<void>;
  stop(): Promise<void>;
}

async function waitSocket(path: string, proc: Deno.ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await Deno.lstat(path)).isSocket) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  throw new Error(`${what} did not create ${path}`);
}

function spawn(args: string[], logFile: string): Deno.ChildProcess {
  const cmd = `exec "${ROOT}/bin/csi-jfs" "$@" 2>>"${logFile}"`;
  return new Deno.Command("bash", { args: ["-c", cmd, "csi-jfs", ...args], stdin: "null", stdout: "null" })
    .spawn();
}

export async function startDriver(
  opts: { nodeArgs?: string[]; controllerArgs?: string[] } = {},
): Promise<Driver> {
  const dir = await Deno.makeTempDir({ prefix: "csi-jfs-it-" });
  const secrets = {
    name: "itfs",
    metaurl: `sqlite3://${dir}/meta.db`,
    storage: "file",
    bucket: `${dir}/bucket/`,
  };
  const common = [`--juicefs=${JUICEFS}`, `--state-dir=${dir}/state`, "--log-level=debug"];
  const log = `${dir}/driver.log`;
  const controllerProc = spawn(
    ["--mode=controller", `--endpoint=unix://${dir}/c.sock`, ...common, ...(opts.controllerArgs ?? [])],
    log,
  );
  const nodeArgs = [
    "--mode=node",
    `--endpoint=unix://${dir}/n.sock`,
    "--nodeid=it-node",
    ...common,
    ...(opts.nodeArgs ?? []),
  ];
  let nodeProc = spawn(nodeArgs, log);
  await waitSocket(`${dir}/c.sock`, controllerProc, "controller");
  await waitSocket(`${dir}/n.sock`, nodeProc, "node");
  const creds = grpc.credentials.createInsecure();
  const controller = new csi.Controller(`unix://${dir}/c.sock`, creds);
  let node = new csi.Node(`unix://${dir}/n.sock`, creds);
  const driver: Driver = {
    dir,
    secrets,
    controller,
    get node() {
      return node;
    },
    logs: () => Deno.readTextFile(log),
    async restartNode() {
      node.close();
      nodeProc.kill("SIGTERM");
      await nodeProc.status;
      nodeProc = spawn(nodeArgs, log);
      await waitSocket(`${dir}/n.sock`, nodeProc, "node");
      node = new csi.Node(`unix://${dir}/n.sock`, creds);
    },
    async stop() {
      controller.close();
      node.close();
      for (const p of [controllerProc, nodeProc]) {
        try {
          p.kill("SIGTERM");
        } catch { /* gone */ }
        await p.status;
      }
      // Stopping the node leaves its clients running by design: release them as an operator would.
      for (const m of mountsUnder(dir)) await new Deno.Command("umount", { args: ["-l", m] }).output();
      await new Deno.Command("pkill", { args: ["-f", `--settings-file=${dir}/`] }).output();
      await new Deno.Command("pkill", { args: ["-f", `${dir}/state`] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return driver;
}

/** Mount points under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const text = new TextDecoder().decode(
    new Deno.Command("cat", { args: ["/proc/self/mountinfo"] }).outputSync().stdout,
  );
  return parseMountinfo(text).map((e) => e.mountPoint).filter((p) => p.startsWith(dir)).sort().reverse();
}

export const mountCap = mountCapability;

export async function sh(cmd: string): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("bash", { args: ["-c", cmd], stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

export async function waitFor(what: string, ms: number, fn: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await fn().catch(() => false)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms}ms waiting for ${what}`);
}

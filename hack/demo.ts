// `make demo`: a controller and a node on local sockets over the embedded default
// (sqlite3 metadata, a local directory as object storage), one volume provisioned and
// published where you can `ls` it, serving until Ctrl-C; then everything is undone.
import { call, CallError, connect, mountCapability } from "../lib/testing/grpc_client.ts";
import { parseMountinfo } from "../lib/mount/mountinfo.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const cache = Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs";
const dir = Deno.env.get("DEMO_DIR") ?? "/tmp/csi-jfs-demo";
const juicefs = `${cache}/bin/juicefs`;
const secrets = {
  name: "demo",
  metaurl: `sqlite3://${dir}/meta.db`,
  storage: "file",
  bucket: `${dir}/bucket/`,
};
const staging = `${dir}/staging/demo-volume`;
const target = `${dir}/published/demo-volume`;

const say = (line: string) => console.log(line);
const sh = async (cmd: string) => {
  const out = await new Deno.Command("bash", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).trimEnd();
};
const mountsUnder = async (path: string) =>
  parseMountinfo(await sh("cat /proc/self/mountinfo")).map((e) => e.mountPoint).filter((m) =>
    m.startsWith(path)
  );

/** The servers run in their own session so Ctrl-C reaches only us and we undo things in order. */
function serve(mode: string, extra: string[]): Deno.ChildProcess {
  const log = `${dir}/${mode}.log`;
  const args = [
    `--mode=${mode}`,
    `--endpoint=unix://${dir}/${mode}.sock`,
    `--juicefs=${juicefs}`,
    `--state-dir=${dir}/state`,
    ...extra,
  ];
  return new Deno.Command("bash", {
    args: ["-c", `exec "${root}/bin/csi-jfs" "$@" 2>>"${log}"`, "csi-jfs", ...args],
    stdin: "null",
    stdout: "null",
    detached: true,
  }).spawn();
}

async function waitSocket(path: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await Deno.lstat(path).then((s) => s.isSocket, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no socket at ${path}; see the logs in ${dir}`);
}

await Deno.mkdir(dir, { recursive: true });
say(`csi-jfs demo in ${dir}: JuiceFS "demo" with sqlite3 metadata and ${dir}/bucket as object storage`);
const controller = serve("controller", []);
const node = serve("node", ["--nodeid=demo-node", "--mount-mode=process"]);
let stopping: Promise<void> | undefined;
const clients = { c: connect(`${dir}/controller.sock`), n: connect(`${dir}/node.sock`) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries a call answered ABORTED (another operation on the volume still in flight). */
async function callRetrying(client: Parameters<typeof call>[0], method: string, req: unknown): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await call(client, method, req);
      return;
    } catch (e) {
      if (!(e instanceof CallError) || e.code !== "ABORTED" || attempt >= 60) throw e;
      await sleep(500);
    }
  }
}

/** Pids of the mount supervisors this demo started (their pid files under the state directory). */
async function supervisorPids(): Promise<number[]> {
  const out = await sh(
    `cat ${dir}/state/clients/*/supervisor.pid ${dir}/state/controller/clients/*/supervisor.pid 2>/dev/null`,
  );
  return out.split("\n").map(Number).filter((n) => n > 0);
}

const alive = (pid: number) => Deno.stat(`/proc/${pid}`).then(() => true, () => false);

/**
 * Undoes everything whatever state the setup reached: waits for the call in flight (a
 * Ctrl-C during NodeStageVolume must not race it), unpublishes and unstages (retrying
 * ABORTED), stops the servers, then stops every supervisor the demo started, because the
 * node plugin leaves its clients running on purpose when it stops.
 */
async function stop(): Promise<void> {
  say(
    "\nstopping: waiting for the call in flight, then NodeUnpublishVolume, NodeUnstageVolume, the controller and node",
  );
  await Promise.race([setup.catch(() => {}), sleep(120_000)]);
  const volumeId = await Deno.readTextFile(`${dir}/volume-id`).catch(() => "");
  if (volumeId) {
    await callRetrying(clients.n.node, "NodeUnpublishVolume", { volume_id: volumeId, target_path: target })
      .catch((e) => say(`  NodeUnpublishVolume: ${e}`));
    await callRetrying(clients.n.node, "NodeUnstageVolume", {
      volume_id: volumeId,
      staging_target_path: staging,
    })
      .catch((e) => say(`  NodeUnstageVolume: ${e}`));
  }
  clients.c.close();
  clients.n.close();
  for (const p of [controller, node]) {
    try {
      p.kill("SIGTERM");
    } catch { /* already gone */ }
    await p.status;
  }
  // Clients outlive the node plugin by design; the demo owns them, so it stops them too.
  const pids = await supervisorPids();
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  for (let i = 0; i < 300 && (await Promise.all(pids.map(alive))).some((a) => a); i++) await sleep(100);
  for (const m of (await mountsUnder(dir)).sort().reverse()) await sh(`umount -l '${m}'`);
  const left = await mountsUnder(dir);
  const running = (await Promise.all(pids.map(async (p) => (await alive(p)) ? p : 0))).filter((p) => p);
  say(
    left.length || running.length
      ? `left behind: mounts ${left.join(" ") || "none"}; supervisors ${running.join(" ") || "none"}`
      : "stopped cleanly: no mounts or processes left (data stays in the bucket)",
  );
}

function stopOnce(): Promise<void> {
  stopping ??= stop();
  return stopping;
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  // A second Ctrl-C while stopping changes nothing: the first one's cleanup runs to its end.
  Deno.addSignalListener(sig, () => {
    void stopOnce().then(() => Deno.exit(0), (e) => {
      console.error(`demo: ${e}`);
      Deno.exit(1);
    });
  });
}

/** Throws once a stop was asked for, so the setup starts nothing new after Ctrl-C. */
function stillWanted(): void {
  if (stopping) throw new Error("interrupted");
}

async function runSetup(): Promise<void> {
  await waitSocket(`${dir}/controller.sock`);
  await waitSocket(`${dir}/node.sock`);
  stillWanted();
  say(
    `[1/3] controller and node serving on ${dir}/controller.sock and ${dir}/node.sock (logs: ${dir}/*.log)`,
  );
  const created = await call<
    { volume: { volume_id: string; capacity_bytes: string; volume_context: Record<string, string> } }
  >(
    clients.c.controller,
    "CreateVolume",
    {
      name: "demo-volume",
      capacity_range: { required_bytes: String(1024 ** 3) },
      volume_capabilities: [mountCapability()],
      parameters: { onDelete: "retain" },
      secrets,
    },
  );
  const v = created.volume;
  await Deno.writeTextFile(`${dir}/volume-id`, v.volume_id);
  say(`[2/3] CreateVolume demo-volume: id ${v.volume_id}, quota ${Number(v.capacity_bytes) / 1024 ** 3} GiB`);
  stillWanted();
  const cap = mountCapability();
  await call(clients.n.node, "NodeStageVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    volume_capability: cap,
    secrets,
    volume_context: v.volume_context,
  });
  stillWanted();
  await call(clients.n.node, "NodePublishVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    target_path: target,
    volume_capability: cap,
  });
  await Deno.writeTextFile(
    `${target}/hello.txt`,
    `written through ${target} at ${new Date().toISOString()}\n`,
  );
  say(`[3/3] NodeStageVolume + NodePublishVolume: the volume is mounted at ${target}`);
  say(`\n$ ls -l ${target}\n${await sh(`ls -l ${target}`)}`);
  say(`\n$ df -h ${target}\n${await sh(`df -h ${target}`)}`);
  say(`\n$ grep ${target} /proc/self/mountinfo\n${await sh(`grep ${target} /proc/self/mountinfo`)}`);
}

const setup = runSetup();
setup.then(() => {
  if (!stopping) say("\nServing until Ctrl-C.");
}, async (e) => {
  if (stopping) return; // interrupted: the stop in progress reports
  console.error(`demo failed: ${e}`);
  await stopOnce();
  Deno.exit(1);
});

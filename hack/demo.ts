// `make demo`: a controller and a node on local sockets over the embedded default
// (sqlite3 metadata, a local directory as object storage), one volume provisioned and
// published where you can `ls` it, serving until Ctrl-C; then everything is undone.
import { call, connect, mountCapability } from "../lib/testing/grpc_client.ts";
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

async function stop(): Promise<void> {
  say("\nstopping: NodeUnpublishVolume, NodeUnstageVolume, then the controller and node");
  const volumeId = await Deno.readTextFile(`${dir}/volume-id`).catch(() => "");
  if (volumeId) {
    await call(clients.n.node, "NodeUnpublishVolume", { volume_id: volumeId, target_path: target }).catch((
      e,
    ) => say(`  ${e}`));
    await call(clients.n.node, "NodeUnstageVolume", { volume_id: volumeId, staging_target_path: staging })
      .catch((e) => say(`  ${e}`));
  }
  clients.c.close();
  clients.n.close();
  for (const p of [controller, node]) {
    try {
      p.kill("SIGTERM");
    } catch { /* already gone */ }
    await p.status;
  }
  const left = await mountsUnder(dir);
  say(
    left.length
      ? `left mounted: ${left.join(" ")}`
      : "stopped cleanly: no mounts or processes left (data stays in the bucket)",
  );
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    stopping ??= stop().then(() => Deno.exit(0), (e) => {
      console.error(`demo: ${e}`);
      Deno.exit(1);
    });
  });
}

try {
  await waitSocket(`${dir}/controller.sock`);
  await waitSocket(`${dir}/node.sock`);
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
  const cap = mountCapability();
  await call(clients.n.node, "NodeStageVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    volume_capability: cap,
    secrets,
    volume_context: v.volume_context,
  });
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
  say("\nServing until Ctrl-C.");
} catch (e) {
  console.error(`demo failed: ${e}`);
  stopping ??= stop();
  await stopping;
  Deno.exit(1);
}

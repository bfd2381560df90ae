import type { Config } from "../lib/config.ts";
import { ExecMounter, mountAt } from "../lib/mount/mounter.ts";
import { readSupervisorSettings } from "../lib/supervisor/settings_file.ts";
import { type ClientProcess, Supervisor } from "../lib/supervisor/supervisor.ts";
import { startFuseFdHolder } from "../lib/supervisor/fuse_fd_holder.ts";
import { FdKeeperLink } from "../lib/supervisor/fd_keeper_link.ts";
import { RELEASE_FILE_NAME } from "../lib/supervisor/fd_keeper_protocol.ts";
import { abortFuseConnection } from "../lib/supervisor/fuse_connection.ts";
import { commNames, processGroupAlive } from "../lib/supervisor/process_group.ts";
import { JuiceFsCli } from "../lib/juicefs/cli.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { registerSecrets } from "../lib/redact.ts";
import { logger } from "../lib/log.ts";
import { dirname, join } from "node:path";
import { untilStopSignal } from "./signals.ts";
import { BINDS_ENV, parseBinds, VolumeBinder } from "../lib/supervisor/volume_binds.ts";

const log = logger("supervisor");

/** Pipes a client's output lines into our log (redacted there), so one place holds both. */
async function forward(stream: ReadableStream<Uint8Array>): Promise<void> {
  const lines = stream.pipeThrough(new TextDecoderStream());
  let rest = "";
  for await (const chunk of lines) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) if (line.trim()) log.info("juicefs: {line}", { line });
  }
}

function spawnClient(juicefs: string) {
  return (args: string[], env: Record<string, string>): ClientProcess => {
    const child = new Deno.Command(juicefs, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    void forward(child.stdout);
    void forward(child.stderr);
    return { pid: child.pid, status: child.status.then((s) => ({ code: s.code, signal: s.signal })) };
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => clearTimeout(t), { once: true });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Runs one JuiceFS client until SIGTERM/SIGINT; exits 0 after unmounting, or, with
 * --keep-mount-on-term and no release file beside the keeper's socket, after ending the client
 * and leaving the mount to the node plugin's fd keeper.
 */
export async function runMountSupervisor(config: Config): Promise<number> {
  const s = await readSupervisorSettings(config.settingsFile);
  registerSecrets(Object.values(s.settings.secretEnv));
  const mounter = new ExecMounter();
  // A mount point left by a lost supervisor may be unserved: any stat of it would wait, so the
  // mount table decides, not the file system.
  if (!(await mountAt(mounter, s.mountPoint))) await Deno.mkdir(s.mountPoint, { recursive: true });
  if (s.format) await new JuiceFsCli(new DenoCommandRunner(), config.juicefs).ensureFormatted(s.settings);
  const fdSocket = config.fdSocket ?? join(dirname(s.mountPoint), "fuse-fd.sock");
  const holder = await startFuseFdHolder(fdSocket, { log: (msg) => log.debug("fd holder: {msg}", { msg }) });
  const keeper = config.fdKeeper
    ? new FdKeeperLink(config.fdKeeper, holder, {
      log: (level, msg) => log[level]("fd keeper: {msg}", { msg }),
    })
    : undefined;
  const clientNames = commNames(config.juicefs);
  const releaseFile = config.fdKeeper ? join(dirname(config.fdKeeper), RELEASE_FILE_NAME) : undefined;
  const supervisor = new Supervisor(s, holder, {
    mounter,
    spawnClient: spawnClient(config.juicefs),
    killGroup: (pid, sig) => {
      try {
        Deno.kill(-pid, sig);
      } catch { /* already gone */ }
    },
    clientAlive: (pid) => processGroupAlive(pid, { comm: clientNames }),
    abortConnection: async (device) => {
      const file = await abortFuseConnection(device);
      log.info("wrote {file}", { file });
    },
    releaseRequested: () => releaseFile ? exists(releaseFile) : Promise.resolve(true),
    sleep,
    now: () => Date.now(),
    ...(keeper ? { keeper } : {}),
  }, { keepMountOnTerm: config.keepMountOnTerm === true });
  // An injected sidecar (lib/webhook) also binds each volume's directory for the app containers.
  const binds = parseBinds(Deno.env.get(BINDS_ENV));
  const binder = binds.length
    ? new VolumeBinder(s.mountPoint, binds, {
      mounter,
      exists: async (path) => (await mounter.health(path)) === "ok",
    })
    : undefined;
  let stopping = false;
  let binding: Promise<boolean> = Promise.resolve(false);
  void untilStopSignal().then(async () => {
    stopping = true;
    // A bind in flight lands first, so the release finds it.
    await binding;
    await binder?.release();
    supervisor.stop();
  });
  if (binder) {
    void (async () => {
      while (!stopping) {
        binding = binder.ensure().catch(() => false);
        const live = await binding;
        await sleep(live ? 5_000 : 500);
      }
    })();
  }
  return await supervisor.run();
}

import type { Config } from "../lib/config.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { readSupervisorSettings } from "../lib/supervisor/settings_file.ts";
import { type ClientProcess, Supervisor } from "../lib/supervisor/supervisor.ts";
import { startFuseFdHolder } from "../lib/supervisor/fuse_fd_holder.ts";
import { JuiceFsCli } from "../lib/juicefs/cli.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { registerSecrets } from "../lib/redact.ts";
import { logger } from "../lib/log.ts";
import { dirname, join } from "node:path";
import { untilStopSignal } from "./signals.ts";

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

/** Runs one JuiceFS client until SIGTERM/SIGINT; exits 0 after unmounting. */
export async function runMountSupervisor(config: Config): Promise<number> {
  const s = await readSupervisorSettings(config.settingsFile);
  registerSecrets(Object.values(s.settings.secretEnv));
  await Deno.mkdir(s.mountPoint, { recursive: true });
  if (s.format) await new JuiceFsCli(new DenoCommandRunner(), config.juicefs).ensureFormatted(s.settings);
  const fdSocket = config.fdSocket ?? join(dirname(s.mountPoint), "fuse-fd.sock");
  const holder = await startFuseFdHolder(fdSocket, { log: (msg) => log.debug("fd holder: {msg}", { msg }) });
  const supervisor = new Supervisor(s, holder, {
    mounter: new ExecMounter(),
    spawnClient: spawnClient(config.juicefs),
    killGroup: (pid, sig) => {
      try {
        Deno.kill(-pid, sig);
      } catch { /* already gone */ }
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
  });
  void untilStopSignal().then(() => supervisor.stop());
  return await supervisor.run();
}

import type { Config } from "../lib/config.ts";
import { type CommandRunner, runOk } from "../lib/exec.ts";
import { IdentityService } from "../lib/csi/identity.ts";
import { loadCsi } from "../lib/csi/proto.ts";
import { serveUnix, type ServiceBinding } from "../lib/csi/server.ts";
import { logger } from "../lib/log.ts";
import { untilStopSignal } from "./signals.ts";

const log = logger("serve");

/** Ready when the juicefs client and the mount tools run. */
export function toolsCheck(runner: CommandRunner, juicefs: string): () => Promise<string | undefined> {
  return async () => {
    try {
      await runOk(runner, juicefs, ["version"], { timeoutMs: 10_000 });
      await runOk(runner, "mount", ["--version"], { timeoutMs: 10_000 });
      await runOk(runner, "umount", ["--version"], { timeoutMs: 10_000 });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
}

/** Serves Identity plus the mode's service until SIGTERM/SIGINT, then runs `cleanup`. */
export async function serveUntilSignal(
  config: Config,
  runner: CommandRunner,
  extra: (csi: ReturnType<typeof loadCsi>) => ServiceBinding,
  cleanup: () => Promise<void>,
): Promise<number> {
  const csi = loadCsi();
  const identity = new IdentityService(config.driverName, toolsCheck(runner, config.juicefs));
  const server = await serveUnix(config.endpoint, [
    { definition: csi.csi.v1.Identity.service, impl: identity },
    extra(csi),
  ]);
  log.info("{driver} {mode} serving on {socket}", {
    driver: config.driverName,
    mode: config.mode,
    socket: server.socketPath,
  });
  await untilStopSignal();
  log.info("shutting down");
  await server.stop();
  await cleanup();
  return 0;
}

import type { Config } from "../lib/config.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { JuiceFsCli } from "../lib/juicefs/cli.ts";
import { AdminMounts } from "../lib/clients/admin_mounts.ts";
import { ControllerService } from "../lib/csi/controller.ts";
import { KeyedLocks } from "../lib/locks.ts";
import { serveUntilSignal } from "./serve.ts";
import { mountBackend } from "./backend.ts";
import { startControllerOperations } from "./operations.ts";

const SWEEP_EVERY_MS = 5 * 60_000;

export async function runController(config: Config): Promise<number> {
  const runner = new DenoCommandRunner();
  const cli = new JuiceFsCli(runner, config.juicefs);
  // The controller's own mounts are always child processes: it has no node to put pods on.
  const backend = mountBackend(config, {
    runner,
    mounter: new ExecMounter(runner),
    stateDir: `${config.stateDir}/controller`,
    mode: "process",
  });
  const admin = new AdminMounts(backend, cli, config.adminIdleTimeoutMs);
  // Leftovers of a crashed controller are reaped at start, then every few minutes.
  admin.startSweeping(SWEEP_EVERY_MS);
  const controller = new ControllerService({ admin, cli, locks: new KeyedLocks() });
  const operations = await startControllerOperations(config, async () => (await backend.list()).length);
  return await serveUntilSignal(
    config,
    runner,
    (csi) => ({ definition: csi.csi.v1.Controller.service, impl: controller }),
    async () => {
      await operations.stop();
      await admin.releaseAll();
    },
  );
}

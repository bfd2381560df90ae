import type { Config } from "../lib/config.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { ProcessBackend } from "../lib/clients/process_backend.ts";
import { JuiceFsCli } from "../lib/juicefs/cli.ts";
import { AdminMounts } from "../lib/juicefs/admin_mounts.ts";
import { ControllerService } from "../lib/csi/controller.ts";
import { KeyedLocks } from "../lib/locks.ts";
import { serveUntilSignal } from "./serve.ts";
import { selfCommand } from "./self_command.ts";

export function runController(config: Config): Promise<number> {
  const runner = new DenoCommandRunner();
  const cli = new JuiceFsCli(runner, config.juicefs);
  const backend = new ProcessBackend({
    stateDir: `${config.stateDir}/controller`,
    selfCommand: selfCommand(),
    mounter: new ExecMounter(runner),
    supervisorArgs: [
      `--juicefs=${config.juicefs}`,
      `--log-format=${config.logFormat}`,
      `--log-level=${config.logLevel}`,
    ],
  });
  const admin = new AdminMounts(backend, cli, config.adminIdleTimeoutMs);
  const controller = new ControllerService({ admin, cli, locks: new KeyedLocks() });
  return serveUntilSignal(
    config,
    runner,
    (csi) => ({ definition: csi.csi.v1.Controller.service, impl: controller }),
    () => admin.releaseAll(),
  );
}

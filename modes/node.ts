import type { Config } from "../lib/config.ts";
import { UsageError } from "../lib/config.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { ProcessBackend } from "../lib/clients/process_backend.ts";
import { NodeService } from "../lib/csi/node.ts";
import { ClientReleaser } from "../lib/csi/client_releaser.ts";
import { KeyedLocks } from "../lib/locks.ts";
import { serveUntilSignal } from "./serve.ts";
import { selfCommand } from "./self_command.ts";

/** Serves the node service; clients keep running when it stops, and are adopted when it starts again. */
export function runNode(config: Config): Promise<number> {
  if (config.mountMode === "pod") {
    throw new UsageError("--mount-mode=pod is not available in this version; use --mount-mode=process");
  }
  const runner = new DenoCommandRunner();
  const mounter = new ExecMounter(runner);
  const backend = new ProcessBackend({
    stateDir: config.stateDir,
    selfCommand: selfCommand(),
    mounter,
    supervisorArgs: [
      `--juicefs=${config.juicefs}`,
      `--log-format=${config.logFormat}`,
      `--log-level=${config.logLevel}`,
    ],
  });
  const releaser = new ClientReleaser(backend, mounter, config.clientReleaseDelayMs);
  const node = new NodeService({
    nodeId: config.nodeId,
    backend,
    mounter,
    locks: new KeyedLocks(),
    releaser,
  });
  return serveUntilSignal(
    config,
    runner,
    (csi) => ({ definition: csi.csi.v1.Node.service, impl: node }),
    () => Promise.resolve(releaser.stop()),
  );
}

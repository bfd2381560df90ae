import type { Config } from "../lib/config.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { NodeService } from "../lib/csi/node.ts";
import { ClientReleaser } from "../lib/clients/releaser.ts";
import { KeyedLocks } from "../lib/locks.ts";
import { serveUntilSignal } from "./serve.ts";
import { nodeMountBackend, realKube } from "./backend.ts";
import { startNodeOperations } from "./operations.ts";

const SWEEP_EVERY_MS = 5 * 60_000;

/** Serves the node service; clients keep running when it stops, and are adopted when it starts again. */
export async function runNode(config: Config): Promise<number> {
  const runner = new DenoCommandRunner();
  const mounter = new ExecMounter(runner);
  // The API is needed for Mount Pods; with --kubeconfig a process-mode node uses it for Events.
  // Loaded only then (modes/backend.ts realKube): the client library is ~50 MiB of RSS.
  const kube = config.mountMode === "pod" || config.kubeconfig
    ? await realKube(config.kubeconfig, "--mode=node")
    : undefined;
  const { backend, start, stop } = await nodeMountBackend(config, {
    runner,
    mounter,
    ...(kube ? { kube } : {}),
  });
  // Pod mode: the fd keeper listens and the running Mount Pods are adopted before any request.
  await start();
  const releaser = new ClientReleaser(backend, mounter, config.clientReleaseDelayMs);
  // Clients left by a crash (never mounted, or idle with no volume) are reaped at start and periodically.
  releaser.startSweeping(SWEEP_EVERY_MS);
  const node = new NodeService({
    nodeId: config.nodeId,
    backend,
    mounter,
    locks: new KeyedLocks(),
    releaser,
    bindRecordsDir: `${config.stateDir}/binds`,
  });
  const events = kube &&
    new (await import("../lib/kube/events.ts")).EventRecorder(kube, {
      component: "csi-jfs-node",
      host: config.nodeId,
    });
  const operations = await startNodeOperations(config, { backend, mounter, kube, events });
  return await serveUntilSignal(
    config,
    runner,
    (csi) => ({ definition: csi.csi.v1.Node.service, impl: node }),
    async () => {
      releaser.stop();
      await operations.stop();
      await stop();
    },
  );
}

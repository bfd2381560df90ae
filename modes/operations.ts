import type { Config } from "../lib/config.ts";
import type { MountBackend } from "../lib/clients/backend.ts";
import type { Mounter } from "../lib/mount/mounter.ts";
import type { Kube } from "../lib/kube/kube.ts";
import { serveMetrics } from "../lib/metrics/server.ts";
import { registerNodeMetrics } from "../lib/metrics/node_metrics.ts";
import { registerControllerMetrics } from "../lib/metrics/controller_metrics.ts";
import { juicefsMetricsRoute } from "../lib/metrics/juicefs_clients.ts";
import { onCallDone } from "../lib/metrics/csi_calls.ts";
import { failureEventListener, type Recorder } from "../lib/events/failure_events.ts";

/** What a serving mode stops on its way out. */
export interface Operations {
  /** The metrics port listened on, when serving (--metrics-address with port 0 picks one). */
  metricsPort?: number;
  stop(): Promise<void>;
}

/**
 * The node's metrics (--metrics-address: /metrics, and /metrics/juicefs with every client's
 * own) and its failure Events on app pods (only when a kube client is configured).
 */
export async function startNodeOperations(
  config: Config,
  d: { backend: MountBackend; mounter: Mounter; kube: Kube | undefined; events: Recorder | undefined },
): Promise<Operations> {
  const undo: (() => unknown)[] = [];
  let metricsPort: number | undefined;
  if (d.events) undo.push(onCallDone(failureEventListener(d.events)));
  if (config.metricsAddress) {
    const namespace = config.namespace ?? Deno.env.get("POD_NAMESPACE");
    undo.push(registerNodeMetrics({
      mode: config.mountMode,
      list: () => d.backend.list(),
      mounter: d.mounter,
      stateDir: config.stateDir,
      nodeName: config.nodeId,
      ...(d.kube ? { kube: d.kube } : {}),
      ...(namespace ? { namespace } : {}),
    }));
    const server = await serveMetrics(config.metricsAddress, {
      "/metrics/juicefs": juicefsMetricsRoute(() => d.backend.list()),
    });
    metricsPort = server.port;
    undo.push(() => server.stop());
  }
  return {
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    stop: async () => void await Promise.all(undo.map((u) => u())),
  };
}

/** The controller's metrics on --metrics-address; `adminMounts` counts its open clients. */
export async function startControllerOperations(
  config: Config,
  adminMounts: () => Promise<number>,
): Promise<Operations> {
  if (!config.metricsAddress) return { stop: () => Promise.resolve() };
  const unlisten = registerControllerMetrics({ adminMounts });
  const server = await serveMetrics(config.metricsAddress);
  return {
    stop: async () => {
      unlisten();
      await server.stop();
    },
  };
}

/**
 * The sidecar injector's metrics on --metrics-address: modes/sidecar_injector.ts starts them and
 * stops them on the way out; its review handler counts each answer (lib/metrics/webhook_metrics.ts).
 */
export async function startWebhookOperations(config: Config): Promise<Operations> {
  if (!config.metricsAddress) return { stop: () => Promise.resolve() };
  const server = await serveMetrics(config.metricsAddress);
  return { stop: () => server.stop() };
}

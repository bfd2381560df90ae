/**
 * The driver's one Prometheus registry (prom-client), with the process metrics every exporter
 * has (CPU, memory, fds, start time). Everything csi-jfs counts registers here; the metrics
 * server (server.ts) renders it.
 */
import client from "prom-client";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export { client };

/** The registry's text, in the Prometheus text format 0.0.4. */
export async function renderRegistry(): Promise<{ body: string; contentType: string }> {
  return { body: await registry.metrics(), contentType: registry.contentType };
}

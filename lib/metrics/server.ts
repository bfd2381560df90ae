/**
 * The HTTP endpoint of --metrics-address: GET /metrics (the driver's registry) and any extra
 * routes a mode adds (the node's /metrics/juicefs). Plain HTTP on the address given: deploy/
 * binds it on the pod IP for Prometheus, a hand run on loopback.
 */
import { logger } from "../log.ts";
import { renderRegistry } from "./registry.ts";
import { parseListenAddress } from "./address.ts";

const log = logger("metrics");

export type Route = () => Promise<{ body: string; contentType: string }>;

export interface MetricsServer {
  /** The port listened on (useful with port 0). */
  port: number;
  hostname: string;
  stop(): Promise<void>;
}

export function serveMetrics(address: string, extra: Record<string, Route> = {}): Promise<MetricsServer> {
  const { hostname, port } = parseListenAddress(address);
  const routes: Record<string, Route> = { "/metrics": renderRegistry, ...extra };
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname,
        port,
        onListen: (addr) => {
          const bound = (addr as Deno.NetAddr).port;
          log.info("metrics on http://{host}:{port}/metrics", { host: hostname, port: bound });
          resolve({ port: bound, hostname, stop: () => server.shutdown() });
        },
        onError: (e) => {
          log.warn("metrics request failed: {error}", { error: String(e) });
          return new Response("metrics unavailable\n", { status: 500 });
        },
      }, async (req) => {
        const route = routes[new URL(req.url).pathname];
        if (req.method !== "GET" || !route) return new Response("not found\n", { status: 404 });
        const { body, contentType } = await route();
        return new Response(body, { headers: { "content-type": contentType } });
      });
    } catch (e) {
      reject(e);
    }
  });
}

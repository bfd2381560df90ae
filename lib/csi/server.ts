import * as grpc from "@grpc/grpc-js";
import { dirname } from "node:path";
import { implement } from "./unary.ts";

export interface ServiceBinding {
  definition: grpc.ServiceDefinition;
  impl: object;
}

/** Accepts unix:///path, unix:/path or a bare absolute path; returns the socket path. */
export function socketPathOf(endpoint: string): string {
  const m = /^unix:(?:\/\/)?(\/.*)$/.exec(endpoint);
  const path = m?.[1] ?? endpoint;
  if (!path.startsWith("/")) throw new Error(`endpoint "${endpoint}" is not unix:///absolute/path`);
  return path;
}

export interface RunningServer {
  socketPath: string;
  stop(): Promise<void>;
}

/** Serves the bindings on a unix socket, replacing a stale socket file left by a crash. */
export async function serveUnix(endpoint: string, bindings: ServiceBinding[]): Promise<RunningServer> {
  const socketPath = socketPathOf(endpoint);
  await Deno.mkdir(dirname(socketPath), { recursive: true });
  await Deno.remove(socketPath).catch(() => {});
  const server = new grpc.Server();
  for (const b of bindings) server.addService(b.definition, implement(b.definition, b.impl));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      `unix://${socketPath}`,
      grpc.ServerCredentials.createInsecure(),
      (err) => err ? reject(err) : resolve(),
    )
  );
  return {
    socketPath,
    stop: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          Deno.remove(socketPath).catch(() => {}).finally(resolve);
        });
      }),
  };
}

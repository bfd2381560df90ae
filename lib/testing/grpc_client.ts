import * as grpc from "@grpc/grpc-js";
import { codeName } from "../errors.ts";
import { loadCsi } from "../csi/proto.ts";

/** A CSI error as a caller sees it: the gRPC code name and the message. */
export class CallError extends Error {
  constructor(readonly code: string, readonly details: string) {
    super(`${code}: ${details}`);
  }
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** Calls a unary CSI method; rejects with a CallError. */
export function call<T = Record<string, unknown>>(
  client: grpc.Client,
  method: string,
  req: unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (!fn) return reject(new Error(`no method ${method}`));
    fn.call(
      client,
      req,
      (err, res) => err ? reject(new CallError(codeName(err.code), err.details)) : resolve(res as T),
    );
  });
}

export interface CsiClients {
  identity: grpc.Client;
  controller: grpc.Client;
  node: grpc.Client;
  close(): void;
}

/** Clients for a plugin's unix socket (identity, controller and node on the same address). */
export function connect(socketPath: string): CsiClients {
  const v1 = loadCsi().csi.v1;
  const creds = grpc.credentials.createInsecure();
  const address = `unix://${socketPath}`;
  const clients = {
    identity: new v1.Identity(address, creds),
    controller: new v1.Controller(address, creds),
    node: new v1.Node(address, creds),
  };
  return { ...clients, close: () => Object.values(clients).forEach((c) => c.close()) };
}

export function mountCapability(mode = "SINGLE_NODE_WRITER", flags: string[] = []) {
  return { mount: { mount_flags: flags }, access_mode: { mode } };
}

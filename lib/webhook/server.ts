import https from "node:https";
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { logger } from "../log.ts";
import { type HttpAnswer, MAX_BODY_BYTES } from "./review.ts";

const log = logger("webhook", "server");

export const MUTATE_PATH = "/mutate-pods";

export interface WebhookServerOptions {
  hostname: string;
  port: number;
  handle(body: string): Promise<HttpAnswer>;
  maxBodyBytes?: number;
}

/** Past this a body is not even drained: the connection is dropped. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * The request body, or undefined when it passes `max` bytes. A body too long is still read to
 * its end (and dropped) up to DRAIN_LIMIT, so the client sees the 413 instead of a reset.
 */
function readLimited(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        req.destroy();
        reject(new Error("body too large to drain"));
      } else if (size > max) parts.length = 0;
      else parts.push(chunk);
    });
    req.on("end", () => {
      if (size > max) return resolve(undefined);
      const out = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      resolve(out);
    });
    req.on("error", reject);
  });
}

/**
 * HTTPS for the admission webhook (node:https, whose setSecureContext swaps the certificate
 * for new connections without a restart or a moment without a listener).
 */
export class WebhookServer {
  private server: https.Server | undefined;
  private port: number;
  private readonly max: number;

  constructor(private o: WebhookServerOptions) {
    this.port = o.port;
    this.max = o.maxBodyBytes ?? MAX_BODY_BYTES;
  }

  get address(): { hostname: string; port: number } {
    return { hostname: this.o.hostname, port: this.port };
  }

  private async answer(req: IncomingMessage): Promise<HttpAnswer> {
    const err = (status: number, error: string): HttpAnswer => ({ status, body: JSON.stringify({ error }) });
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz" || path === "/readyz") return { status: 200, body: "ok\n" };
    if (path !== MUTATE_PATH) return err(404, "not found");
    if (req.method !== "POST") return err(405, "use POST");
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
      return err(415, "expected application/json");
    }
    if (Number(req.headers["content-length"] ?? "0") > DRAIN_LIMIT) {
      req.destroy();
      return err(413, `body larger than ${this.max} bytes`);
    }
    const bytes = await readLimited(req, this.max).catch(() => null);
    if (bytes === null) return err(400, "the body could not be read");
    if (bytes === undefined) return err(413, `body larger than ${this.max} bytes`);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return err(400, "the body is not UTF-8");
    }
    return await this.o.handle(text);
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    this.answer(req).catch((e) => {
      log.warn("request failed: {error}", { error: String(e) });
      return { status: 500, body: JSON.stringify({ error: "internal error" }) };
    }).then((a) => {
      if (res.writableEnded || res.destroyed) return;
      // A body we answered without reading is read and dropped (bounded by requestTimeout), so
      // the client gets the answer rather than a reset while it still sends.
      if (!req.readableEnded) req.resume();
      const close = a.status === 413;
      res.writeHead(a.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(a.body),
        ...(close ? { connection: "close" } : {}),
      });
      res.end(a.body);
    }).catch(() => {});
  }

  async start(cert: string, key: string): Promise<void> {
    const server = https.createServer({ cert, key }, (req, res) => this.serve(req, res));
    // The API server's own timeout is at most 30 s; a client slower than that is not one.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    // A client that breaks the TLS handshake or the connection must not reach the process.
    server.on("tlsClientError", () => {});
    server.on("clientError", (_e: unknown, socket: { destroy(): void }) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.o.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e: unknown) => log.error("webhook server: {error}", { error: String(e) }));
    const addr = server.address();
    if (addr && typeof addr === "object") this.port = addr.port;
    this.server = server;
    log.info("serving the admission webhook on https://{host}:{port}{path}", {
      host: this.o.hostname,
      port: this.port,
      path: MUTATE_PATH,
    });
  }

  /** Serves `cert` to every new connection from now on. */
  reload(cert: string, key: string): void {
    this.server?.setSecureContext({ cert, key });
    log.info("serving certificate reloaded");
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections?.();
    });
  }
}

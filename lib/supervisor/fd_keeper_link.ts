/**
 * The supervisor's side of the FUSE fd keeper (protocol: fd_keeper_protocol.ts): takes the
 * keeper's fd at start when the supervisor has none, and keeps the keeper holding a copy of
 * whatever FUSE fd the supervisor's holder holds, offering it again whenever the keeper comes
 * back. The keeper being absent is normal (node plugin restarting): retried quietly.
 */

import {
  closeFd,
  connectUnix,
  LibcError,
  POLLERR,
  POLLHUP,
  POLLIN,
  pollNow,
  recvMsg,
  sendMsg,
  unixSeqpacketSocket,
} from "./libc_ffi.ts";
import { bodyText, decodeMessage, encodeMessage, MAX_FDS, MAX_MESSAGE } from "./fd_keeper_protocol.ts";
import type { HeldFuseFd } from "./fuse_fd_holder.ts";

/** What the supervisor needs from a keeper link (a fake in unit tests). */
export interface KeeperLink {
  readonly socketPath: string;
  /** The keeper's live FUSE fd (a new reference, now the caller's) and its setting, or null. */
  fetch(timeoutMs: number): Promise<{ fd: number; setting: Uint8Array } | null>;
  /** Keeps the keeper in step with the holder until close(). */
  start(): void;
  /** Offers the holder's current fd now; resolves whether the keeper confirmed it holds it. */
  handOver(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface FdKeeperLinkOptions {
  log?: (level: "debug" | "info" | "warn", msg: string) => void;
  /** Pause between attempts while the keeper is absent, and between checks (default 1000 ms). */
  retryMs?: number;
  /** Longest wait for one answer (default 3000 ms). */
  replyTimeoutMs?: number;
}

export class FdKeeperLink implements KeeperLink {
  #conn: number | null = null;
  /** The holder generation the keeper confirmed on the current connection. */
  #confirmed: number | null = null;
  /** The holder generation the keeper refused on the current connection. */
  #refused: number | null = null;
  #absentLogged = false;
  #closing = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  /** Serializes exchanges: the loop and handOver() share one connection. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #log: NonNullable<FdKeeperLinkOptions["log"]>;
  readonly #retryMs: number;
  readonly #replyTimeoutMs: number;

  constructor(
    readonly socketPath: string,
    private holder: { held(): HeldFuseFd | null },
    opts: FdKeeperLinkOptions = {},
  ) {
    this.#log = opts.log ?? (() => {});
    this.#retryMs = opts.retryMs ?? 1000;
    this.#replyTimeoutMs = opts.replyTimeoutMs ?? 3000;
  }

  async fetch(timeoutMs: number): Promise<{ fd: number; setting: Uint8Array } | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let conn: number | null = null;
      try {
        conn = this.#connect();
        sendMsg(conn, encodeMessage("FETCH"), []);
        const reply = await this.#reply(conn, Math.max(1, deadline - Date.now()));
        const m = decodeMessage(reply.payload);
        const [fd, ...extra] = reply.fds;
        extra.forEach(closeQuiet);
        if (m.verb === "FUSE" && fd !== undefined) {
          this.#log("info", `took FUSE fd ${fd} from the fd keeper at ${this.socketPath}`);
          return { fd, setting: m.body };
        }
        if (fd !== undefined) closeQuiet(fd);
        if (m.verb !== "NONE") this.#log("warn", `fd keeper answered ${m.verb} ${bodyText(m)} to FETCH`);
        return null;
      } catch (e) {
        // No socket: no keeper here, nothing to wait for. A socket that refuses may be a keeper
        // restarting: worth a retry until the deadline.
        if (e instanceof LibcError && e.call === "connect" && !(await socketExists(this.socketPath))) {
          return null;
        }
        if (Date.now() + this.#retryMs > deadline) {
          this.#log("warn", `no FUSE fd from the fd keeper at ${this.socketPath}: ${errorText(e)}`);
          return null;
        }
        await sleep(Math.min(this.#retryMs, 250));
      } finally {
        if (conn !== null) closeQuiet(conn);
      }
    }
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  handOver(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    return this.#serial(async () => {
      for (;;) {
        const outcome = await this.#step(Math.max(1, deadline - Date.now()));
        if (outcome !== "unreachable") return outcome === "kept";
        if (Date.now() + 100 > deadline) return false;
        await sleep(Math.min(100, deadline - Date.now()));
      }
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    await this.#loop;
    await this.#queue.catch(() => {});
    this.#disconnect();
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      if (this.holder.held() !== null) await this.#serial(() => this.#step(this.#replyTimeoutMs));
      if (this.#closing) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#retryMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Makes sure the keeper holds the holder's fd. Never throws. */
  async #step(timeoutMs: number): Promise<"kept" | "refused" | "unreachable"> {
    try {
      // Read right before sending, with no await in between: the holder closes a replaced fd.
      const held = this.holder.held();
      if (held === null) return "refused";
      if (this.#conn !== null && this.#peerGone(this.#conn)) {
        this.#log("info", `the fd keeper at ${this.socketPath} went away; waiting for it to come back`);
        this.#disconnect();
      }
      if (this.#conn === null) {
        this.#conn = this.#connect();
        this.#absentLogged = false;
      }
      if (this.#confirmed === held.generation) return "kept";
      if (this.#refused === held.generation) return "refused";
      sendMsg(this.#conn, encodeMessage("KEEP", held.setting), [held.fd]);
      const reply = await this.#reply(this.#conn, timeoutMs);
      reply.fds.forEach(closeQuiet);
      const m = decodeMessage(reply.payload);
      if (m.verb === "OK") {
        this.#confirmed = held.generation;
        this.#log("info", `the fd keeper at ${this.socketPath} holds a copy of FUSE fd ${held.fd}`);
        return "kept";
      }
      if (reply.payload.byteLength === 0) throw new Error("the fd keeper closed the connection");
      // A refusal is not retried for this fd: only a new fd or a new keeper is worth it.
      this.#refused = held.generation;
      this.#log("warn", `the fd keeper refused FUSE fd ${held.fd}: ${m.verb} ${bodyText(m)}`);
      return "refused";
    } catch (e) {
      this.#disconnect();
      if (!this.#absentLogged) {
        this.#absentLogged = true;
        this.#log("debug", `fd keeper at ${this.socketPath} not reachable (retrying): ${errorText(e)}`);
      }
      return "unreachable";
    }
  }

  /** The keeper never speaks unprompted: anything readable on an idle connection is its end. */
  #peerGone(conn: number): boolean {
    try {
      return (pollNow(conn, POLLIN) & (POLLIN | POLLHUP | POLLERR)) !== 0;
    } catch {
      return true;
    }
  }

  #connect(): number {
    const conn = unixSeqpacketSocket(true);
    try {
      connectUnix(conn, this.socketPath);
      return conn;
    } catch (e) {
      closeQuiet(conn);
      throw e;
    }
  }

  async #reply(conn: number, timeoutMs: number) {
    const reply = await recvMsg(conn, { maxPayload: MAX_MESSAGE, maxFds: MAX_FDS, timeoutMs });
    if (reply.payload.byteLength === 0 && reply.fds.length === 0) {
      throw new Error("the fd keeper closed the connection");
    }
    return reply;
  }

  #disconnect(): void {
    if (this.#conn !== null) closeQuiet(this.#conn);
    this.#conn = null;
    this.#confirmed = null;
    this.#refused = null;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }
}

async function socketExists(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isSocket === true;
  } catch {
    return false;
  }
}

function closeQuiet(fd: number): void {
  try {
    closeFd(fd);
  } catch { /* already closed */ }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

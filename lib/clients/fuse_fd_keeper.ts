/**
 * The node plugin's side of the FUSE fd keeper (protocol: lib/supervisor/fd_keeper_protocol.ts).
 *
 * One listening socket per client key, `<rootDir>/<key>/fd-keeper.sock`, on a hostPath the
 * Mount Pod of that key shares. The Mount Pod's supervisor gives the keeper a dup of its FUSE
 * fd; the keeper holds it, never gives its own copy away, and hands a new reference to a
 * replacement supervisor that asks (FETCH). So a Mount Pod deleted or OOMKilled leaves its
 * kernel FUSE connection alive, and the binds of it in app pods hang for a moment instead of
 * failing with ENOTCONN. A held fd whose connection died (the mount is gone, or was aborted)
 * is dropped, never handed out.
 *
 * `stop()` closes the sockets but keeps the fds: they go when the process exits, after the
 * node plugin is done, and a supervisor offers its fd again to the next keeper.
 */

import { join } from "node:path";
import { invalidArgument } from "../errors.ts";
import { logger } from "../log.ts";
import {
  acceptNonblocking,
  bindUnix,
  closeFd,
  LibcError,
  listen,
  POLLERR,
  POLLIN,
  pollNow,
  POLLNVAL,
  pollWait,
  recvMsg,
  sendMsg,
  shutdownFd,
  sockaddrUn,
  unixSeqpacketSocket,
} from "../supervisor/libc_ffi.ts";
import {
  decodeMessage,
  encodeMessage,
  KEEPER_SOCKET_NAME,
  MAX_FDS,
  MAX_MESSAGE,
  RELEASE_FILE_NAME,
} from "../supervisor/fd_keeper_protocol.ts";

const log = logger("fd-keeper");

/** /dev/fuse is the misc device 10:229; Linux packs a small dev_t as major << 8 | minor. */
const FUSE_RDEV = (10 << 8) | 229;
/** Upper bound of an idle wait, so close paths and the dead-fd sweep never wait longer. */
const IDLE_POLL_MS = 1000;
/** A supervisor keeps one connection open; a few more cover a replacement pod overlapping. */
const MAX_CONNS_PER_KEY = 8;
/** A key is one path component made by clientKey(): no separators, no dot-dot. */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface FuseFdKeeperDeps {
  /** Whether `fd` is a /dev/fuse fd (default: stat of /proc/self/fd/N). */
  isFuseDevice?: (fd: number) => boolean;
  /** Whether the FUSE connection of `fd` is gone (default: it polls POLLERR, as an aborted one does). */
  isDead?: (fd: number) => boolean;
}

interface Held {
  fd: number;
  setting: Uint8Array;
}

interface Listener {
  key: string;
  socketPath: string;
  listenFd: number;
  socketIno: number;
  closing: boolean;
  closed?: Promise<void>;
  conns: Set<number>;
  handlers: Set<Promise<void>>;
  loop: Promise<void>;
}

export class FuseFdKeeper {
  readonly #held = new Map<string, Held>();
  readonly #listeners = new Map<string, Promise<Listener>>();
  readonly #isFuseDevice: (fd: number) => boolean;
  readonly #isDead: (fd: number) => boolean;

  constructor(readonly rootDir: string, deps: FuseFdKeeperDeps = {}) {
    this.#isFuseDevice = deps.isFuseDevice ?? isFuseDevice;
    this.#isDead = deps.isDead ?? isDeadConnection;
  }

  socketPath(key: string): string {
    return join(this.rootDir, checkKey(key), KEEPER_SOCKET_NAME);
  }

  /** The file whose presence tells the key's supervisor that SIGTERM is a real release. */
  releaseFile(key: string): string {
    return join(this.rootDir, checkKey(key), RELEASE_FILE_NAME);
  }

  /**
   * Tells the key's supervisor that its next SIGTERM is a real release (unmount), not a pod
   * being replaced: write this before deleting the Mount Pod for good. drop() clears it.
   */
  async requestRelease(key: string): Promise<void> {
    const file = this.releaseFile(key);
    await Deno.mkdir(join(this.rootDir, key), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(file, `${new Date().toISOString()}\n`, { mode: 0o600 });
  }

  /** Listens for `key` (creating `<rootDir>/<key>/`, 0700). Idempotent and safe to race. */
  async start(key: string): Promise<void> {
    const socketPath = this.socketPath(key);
    let l = this.#listeners.get(key);
    if (l === undefined) {
      l = this.#listen(key, socketPath);
      this.#listeners.set(key, l);
      l.catch(() => this.#listeners.delete(key));
    }
    await l;
  }

  /** Listens for every key directory under rootDir (a restarted node plugin). */
  async adoptAll(): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.rootDir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      if (!e.isDirectory || !KEY.test(e.name)) continue;
      try {
        await this.start(e.name);
      } catch (err) {
        log.warn("cannot listen for client {key}: {error}", { key: e.name, error: String(err) });
      }
    }
  }

  /** Whether a live FUSE connection is held for `key` (a dead one is dropped here). */
  holds(key: string): boolean {
    return this.#live(key) !== null;
  }

  /** Keys listened for. */
  keys(): string[] {
    return [...this.#listeners.keys()];
  }

  /**
   * Stops listening for `key`, closes its fd (if held), removes its socket and its release
   * file (so a later client of the same key starts with no release pending). Idempotent.
   */
  async drop(key: string): Promise<void> {
    const socketPath = this.socketPath(key);
    await Deno.remove(this.releaseFile(key)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const l = this.#listeners.get(key);
    this.#listeners.delete(key);
    const listener = l === undefined ? undefined : await l.catch(() => undefined);
    // Closing starts synchronously: from here the old listener answers nothing, so the fd
    // taken below is its last one (a listener started meanwhile keeps its own).
    const closed = listener === undefined ? removeSocket(socketPath, null) : this.#close(listener);
    const held = this.#held.get(key);
    if (held !== undefined) {
      this.#held.delete(key);
      closeQuietly(held.fd);
      log.info("client {key}: closed its FUSE fd {fd} (dropped)", { key, fd: held.fd });
    }
    await closed;
  }

  /** Closes every socket; the held fds stay open until the process exits. */
  async stop(): Promise<void> {
    const all = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(all.map(async (l) => await this.#close(await l.catch(() => undefined))));
  }

  /** Closes every socket and fd (tests; a node plugin exits instead). */
  async closeAll(): Promise<void> {
    await this.stop();
    for (const [key, held] of this.#held) {
      closeQuietly(held.fd);
      this.#held.delete(key);
    }
  }

  #live(key: string): Held | null {
    const held = this.#held.get(key);
    if (held === undefined) return null;
    if (!this.#isDead(held.fd)) return held;
    this.#held.delete(key);
    closeQuietly(held.fd);
    log.info("client {key}: closed FUSE fd {fd}: its connection is gone (unmounted or aborted)", {
      key,
      fd: held.fd,
    });
    return null;
  }

  async #listen(key: string, socketPath: string): Promise<Listener> {
    sockaddrUn(socketPath); // checks the length before touching the file system
    await Deno.mkdir(join(this.rootDir, key), { recursive: true, mode: 0o700 });
    await removeSocket(socketPath, null);
    let listenFd = -1;
    try {
      listenFd = unixSeqpacketSocket(true);
      bindUnix(listenFd, socketPath);
      await Deno.chmod(socketPath, 0o600);
      const socketIno = (await Deno.lstat(socketPath)).ino ?? 0;
      listen(listenFd, 16);
      const l: Listener = {
        key,
        socketPath,
        listenFd,
        socketIno,
        closing: false,
        conns: new Set(),
        handlers: new Set(),
        loop: Promise.resolve(),
      };
      l.loop = this.#serve(l);
      log.info("client {key}: fd keeper listening on {path}", { key, path: socketPath });
      return l;
    } catch (e) {
      if (listenFd >= 0) {
        closeQuietly(listenFd);
        await Deno.remove(socketPath).catch(() => {});
      }
      throw e;
    }
  }

  #close(l: Listener | undefined): Promise<void> {
    if (l === undefined) return Promise.resolve();
    l.closed ??= this.#shutDown(l);
    return l.closed;
  }

  async #shutDown(l: Listener): Promise<void> {
    l.closing = true;
    // Shutting sockets down wakes their pollers; the fds stay open until those are done.
    shutdownFd(l.listenFd);
    for (const c of l.conns) shutdownFd(c);
    await l.loop;
    await Promise.all(l.handlers);
    closeQuietly(l.listenFd);
    await removeSocket(l.socketPath, l.socketIno).catch((e) =>
      log.warn("client {key}: remove {path}: {error}", {
        key: l.key,
        path: l.socketPath,
        error: errorText(e),
      })
    );
  }

  async #serve(l: Listener): Promise<void> {
    while (!l.closing) {
      try {
        const revents = await pollWait(l.listenFd, POLLIN, IDLE_POLL_MS);
        if (l.closing) break;
        // The sweep: a connection that died while nobody asked is closed within a second.
        this.#live(l.key);
        if (revents === 0) continue;
        const conn = acceptNonblocking(l.listenFd);
        if (conn === null) {
          if (revents & (POLLERR | POLLNVAL)) await sleep(100);
          continue;
        }
        if (l.conns.size >= MAX_CONNS_PER_KEY) {
          log.warn("client {key}: refusing a connection: {n} already open", { key: l.key, n: l.conns.size });
          closeQuietly(conn);
          continue;
        }
        l.conns.add(conn);
        const h = this.#handle(l, conn).finally(() => {
          l.conns.delete(conn);
          l.handlers.delete(h);
          closeQuietly(conn);
        });
        l.handlers.add(h);
      } catch (e) {
        log.warn("client {key}: accept failed: {error}", { key: l.key, error: errorText(e) });
        await sleep(100);
      }
    }
  }

  /** Answers requests on one connection until the peer closes it or the listener closes. */
  async #handle(l: Listener, conn: number): Promise<void> {
    while (!l.closing) {
      let msg;
      try {
        msg = await recvMsg(conn, { maxPayload: MAX_MESSAGE, maxFds: MAX_FDS });
      } catch (e) {
        log.debug("client {key}: connection failed: {error}", { key: l.key, error: errorText(e) });
        return;
      }
      if (msg.payload.byteLength === 0 && msg.fds.length === 0) return; // EOF
      if (l.closing) {
        msg.fds.forEach(closeQuietly);
        return;
      }
      try {
        this.#answer(l, conn, msg.payload, msg.fds, msg.fdsTruncated || msg.payloadTruncated);
      } catch (e) {
        log.debug("client {key}: answer failed: {error}", { key: l.key, error: errorText(e) });
        return;
      }
    }
  }

  #answer(l: Listener, conn: number, payload: Uint8Array, fds: number[], truncated: boolean): void {
    const { verb, body } = decodeMessage(payload);
    const err = (reason: string) => {
      for (const fd of fds) closeQuietly(fd);
      sendMsg(conn, encodeMessage("ERR", reason), []);
      log.warn("client {key}: refused {verb}: {reason}", {
        key: l.key,
        verb: JSON.stringify(verb.slice(0, 16)),
        reason,
      });
    };
    if (truncated) return err("message too long or too many fds");
    if (verb === "FETCH") {
      for (const fd of fds) closeQuietly(fd);
      const held = this.#live(l.key);
      if (held === null) {
        sendMsg(conn, encodeMessage("NONE"), []);
        return;
      }
      sendMsg(conn, encodeMessage("FUSE", held.setting), [held.fd]);
      log.info("client {key}: handed a copy of FUSE fd {fd} to a supervisor", { key: l.key, fd: held.fd });
      return;
    }
    if (verb !== "KEEP") return err(`unknown request ${JSON.stringify(verb.slice(0, 16))}`);
    const [fd] = fds;
    if (fd === undefined || fds.length !== 1) return err(`KEEP needs exactly one fd, got ${fds.length}`);
    if (!this.#isFuseDevice(fd)) return err("the fd is not /dev/fuse");
    if (this.#isDead(fd)) return err("the FUSE connection of the fd is already gone");
    const old = this.#held.get(l.key);
    this.#held.set(l.key, { fd, setting: body });
    if (old !== undefined && old.fd !== fd) closeQuietly(old.fd);
    sendMsg(conn, encodeMessage("OK"), []);
    log.info("client {key}: holding FUSE fd {fd}{replacing}", {
      key: l.key,
      fd,
      replacing: old !== undefined ? ` (replacing fd ${old.fd})` : "",
    });
  }
}

function checkKey(key: string): string {
  if (!KEY.test(key)) {
    throw invalidArgument(`fd keeper: client key ${JSON.stringify(key)} is not one path component`);
  }
  return key;
}

function isFuseDevice(fd: number): boolean {
  try {
    const st = Deno.statSync(`/proc/self/fd/${fd}`);
    return st.isCharDevice === true && st.rdev === FUSE_RDEV;
  } catch {
    return false;
  }
}

/** A FUSE device whose connection was aborted (or unmounted) polls as POLLERR. */
function isDeadConnection(fd: number): boolean {
  try {
    return (pollNow(fd, 0) & (POLLERR | POLLNVAL)) !== 0;
  } catch {
    return false;
  }
}

/** Removes a socket file (only ours when `ino` is given; never anything but a socket). */
async function removeSocket(path: string, ino: number | null): Promise<void> {
  try {
    const st = await Deno.lstat(path);
    if (!st.isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
    if (ino !== null && st.ino !== ino) return;
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch (e) {
    log.warn("close fd {fd}: {error}", { fd, error: errorText(e) });
  }
}

function errorText(e: unknown): string {
  if (e instanceof LibcError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

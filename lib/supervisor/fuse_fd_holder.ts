/**
 * External holder of the FUSE device fd for `juicefs mount` (JuiceFS >= 1.3, env JFS_SUPER_COMM).
 *
 * Why: when every juicefs process of a mount dies, the kernel aborts the FUSE connection
 * ("Transport endpoint is not connected") and every bind mount of it in pods breaks, unless
 * some process still holds the /dev/fuse fd. The mount-supervisor runs this holder; juicefs,
 * started with JFS_SUPER_COMM=<socketPath>, hands its fd over after mounting and fetches it
 * back when restarted, serving the existing kernel connection instead of mounting anew.
 *
 * Protocol (juicefs v1.3.1 cmd/passfd.go: getFd/putFd/getFuseFd/sendFuseFd; the server side
 * mirrors handleFDRequest). Stream unix socket; every message is one sendmsg of a payload with
 * at least one SCM_RIGHTS fd. Per connection the holder:
 *  1. sends the stored setting bytes (initially "FUSE"; after a hand-over, the 104-byte
 *     go-fuse InitIn the kernel negotiated) with fds [placeholder] if it holds no FUSE fd, or
 *     [placeholder, fuseFd] if it does, keeping its own copy of fuseFd open. juicefs always
 *     closes fds[0] (it sends its stdin, fd 0, there; we send /dev/null so a closed stdin in
 *     the supervisor cannot break the protocol);
 *  2. receives one message: payload != "CLOSE" with exactly one fd is a (new) FUSE fd handed
 *     over, which replaces the held one (payload = its setting); anything else ("CLOSE" with a
 *     placeholder from getFuseFd, EOF, extra fds) is closed and ignored.
 * Unlike juicefs's own in-process holder we never give our copy away, which is what makes the
 * connection survive `kill -9` of all juicefs processes.
 */

import {
  acceptNonblocking,
  bindUnix,
  closeFd,
  LibcError,
  listen,
  O_RDONLY,
  openFd,
  POLLERR,
  POLLIN,
  pollNow,
  POLLNVAL,
  pollWait,
  recvMsg,
  sendMsg,
  shutdownFd,
  sockaddrUn,
  unixStreamSocket,
} from "./libc_ffi.ts";

export interface FuseFdHolder {
  readonly socketPath: string;
  /**
   * Whether a FUSE fd is held whose connection is still alive. A held fd whose connection
   * was aborted (umount, /sys/fs/fuse/connections/N/abort) is dropped here rather than
   * handed to a restarted juicefs, which then mounts anew.
   */
  holdsFd(): boolean;
  /**
   * The live FUSE fd held (still owned by the holder: dup it or send it, never close it),
   * with its setting and a generation that changes whenever the held fd is replaced.
   */
  held(): HeldFuseFd | null;
  /**
   * Takes ownership of `fd`, a FUSE fd fetched elsewhere (the node plugin's keeper), so the
   * next juicefs resumes its connection. Replaces (and closes) a fd held before.
   */
  adopt(fd: number, setting: Uint8Array): void;
  /** Stops serving, closes the held fd (if any) and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

export interface FuseFdHolderOptions {
  /** Diagnostics; a failing connection is logged here and never stops the server. */
  log?: (msg: string) => void;
  /** Longest wait for a client's reply on one connection (default 5000 ms). */
  replyTimeoutMs?: number;
}

/** The setting juicefs starts with, sent while no fd is held. */
const INITIAL_SETTING = new TextEncoder().encode("FUSE");
const CLOSE = "CLOSE";
/** juicefs reads at most 120 bytes and 2 fds; a setting (go-fuse InitIn) is 104 bytes. */
const MAX_PAYLOAD = 4096;
const MAX_FDS = 2;
/** Upper bound of one idle wait, so a lost wakeup can never hang close(). */
const IDLE_POLL_MS = 1000;

export interface HeldFuseFd {
  fd: number;
  setting: Uint8Array;
  generation: number;
}

/**
 * Starts serving on `socketPath`: creates the parent directory (0700) if missing, replaces a
 * stale socket file (refuses to delete anything that is not a socket), listens with the
 * socket file at 0600, and serves connections one at a time until close().
 */
export async function startFuseFdHolder(
  socketPath: string,
  opts: FuseFdHolderOptions = {},
): Promise<FuseFdHolder> {
  sockaddrUn(socketPath); // validates the length before touching the filesystem
  const log = opts.log ?? (() => {});
  const replyTimeoutMs = opts.replyTimeoutMs ?? 5000;

  const dir = parentDir(socketPath);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleSocket(socketPath);

  let listenFd = -1;
  let placeholderFd = -1;
  let socketIno: number | null = null;
  try {
    listenFd = unixStreamSocket(true);
    bindUnix(listenFd, socketPath);
    await Deno.chmod(socketPath, 0o600);
    socketIno = (await Deno.lstat(socketPath)).ino;
    listen(listenFd, 16);
    placeholderFd = openFd("/dev/null", O_RDONLY);
  } catch (e) {
    if (placeholderFd >= 0) closeFd(placeholderFd);
    if (listenFd >= 0) {
      closeFd(listenFd);
      if (socketIno !== null) await Deno.remove(socketPath).catch(() => {});
    }
    throw e;
  }
  return new Holder(socketPath, listenFd, placeholderFd, socketIno, log, replyTimeoutMs);
}

class Holder implements FuseFdHolder {
  #held: HeldFuseFd | null = null;
  #generation = 0;
  #closing = false;
  #conn: number | null = null;
  #loop: Promise<void>;
  #closed: Promise<void> | null = null;

  constructor(
    readonly socketPath: string,
    readonly listenFd: number,
    readonly placeholderFd: number,
    readonly socketIno: number | null,
    readonly log: (msg: string) => void,
    readonly replyTimeoutMs: number,
  ) {
    this.#loop = this.#serve();
  }

  holdsFd(): boolean {
    if (this.#held !== null && this.#isDead(this.#held.fd)) this.#drop("its FUSE connection is gone");
    return this.#held !== null;
  }

  held(): HeldFuseFd | null {
    return this.holdsFd() ? this.#held : null;
  }

  adopt(fd: number, setting: Uint8Array): void {
    if (this.#closing) {
      this.#closeQuietly(fd);
      return;
    }
    this.#replace(fd, setting, "adopted");
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    // Wake the loop: a shut-down listening socket polls as hung up, a shut-down connection
    // reads EOF. The fds stay open until the loop has finished with them.
    shutdownFd(this.listenFd);
    if (this.#conn !== null) shutdownFd(this.#conn);
    await this.#loop;
    this.#closeQuietly(this.listenFd);
    this.#closeQuietly(this.placeholderFd);
    if (this.#held !== null) this.#drop("the holder is closing");
    try {
      // Remove only our own socket file, not one a newer holder bound at the same path.
      const st = await Deno.lstat(this.socketPath);
      if (st.isSocket && st.ino === this.socketIno) await Deno.remove(this.socketPath);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) this.log(`fuse fd holder: remove ${this.socketPath}: ${e}`);
    }
  }

  async #serve(): Promise<void> {
    while (!this.#closing) {
      try {
        const revents = await pollWait(this.listenFd, POLLIN, IDLE_POLL_MS);
        if (this.#closing) break;
        if (revents === 0) continue;
        const conn = acceptNonblocking(this.listenFd);
        if (conn === null) {
          if (revents & (POLLERR | POLLNVAL)) await sleep(100); // never spin
          continue;
        }
        this.#conn = conn;
        try {
          await this.#handle(conn);
        } catch (e) {
          this.log(`fuse fd holder: connection failed: ${errorText(e)}`);
        } finally {
          this.#conn = null;
          this.#closeQuietly(conn);
        }
      } catch (e) {
        // accept4 failing (e.g. EMFILE): keep serving, but do not spin.
        this.log(`fuse fd holder: accept failed: ${errorText(e)}`);
        await sleep(100);
      }
    }
  }

  async #handle(conn: number): Promise<void> {
    if (this.#held !== null && this.#isDead(this.#held.fd)) this.#drop("its FUSE connection is gone");
    const held = this.#held;
    if (held !== null) {
      sendMsg(conn, held.setting, [this.placeholderFd, held.fd]);
      this.log(`fuse fd holder: sent FUSE fd ${held.fd}`);
    } else {
      sendMsg(conn, INITIAL_SETTING, [this.placeholderFd]);
    }

    const msg = await recvMsg(conn, {
      maxPayload: MAX_PAYLOAD,
      maxFds: MAX_FDS,
      timeoutMs: this.replyTimeoutMs,
    });
    const text = new TextDecoder().decode(msg.payload);
    const [newFd] = msg.fds;
    if (text !== CLOSE && msg.fds.length === 1 && !msg.fdsTruncated && newFd !== undefined) {
      if (this.#closing) {
        this.#closeQuietly(newFd);
        return;
      }
      this.#replace(newFd, msg.payload, "holding");
      return;
    }
    for (const fd of msg.fds) this.#closeQuietly(fd);
    if (msg.payload.byteLength === 0 && msg.fds.length === 0) return; // peer closed: fine
    if (text !== CLOSE) {
      this.log(
        `fuse fd holder: ignored a message of ${msg.payload.byteLength} bytes with ${msg.fds.length} fd(s)` +
          (msg.fdsTruncated ? " (more were dropped)" : ""),
      );
    }
  }

  #replace(fd: number, setting: Uint8Array, how: string): void {
    const old = this.#held;
    this.#held = { fd, setting, generation: ++this.#generation };
    if (old !== null && old.fd !== fd) this.#closeQuietly(old.fd);
    this.log(
      `fuse fd holder: ${how} FUSE fd ${fd} (${fdTarget(fd)}, setting ${setting.byteLength} bytes)` +
        (old !== null ? `, replacing fd ${old.fd}` : ""),
    );
  }

  /** A FUSE device whose connection was aborted polls as POLLERR. */
  #isDead(fd: number): boolean {
    try {
      return (pollNow(fd, 0) & (POLLERR | POLLNVAL)) !== 0;
    } catch {
      return false;
    }
  }

  #drop(why: string): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#closeQuietly(held.fd);
    this.log(`fuse fd holder: closed FUSE fd ${held.fd}: ${why}`);
  }

  #closeQuietly(fd: number): void {
    try {
      closeFd(fd);
    } catch (e) {
      this.log(`fuse fd holder: close fd ${fd}: ${errorText(e)}`);
    }
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!st.isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  await Deno.remove(path);
}

function parentDir(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function fdTarget(fd: number): string {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return "?";
  }
}

function errorText(e: unknown): string {
  if (e instanceof LibcError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

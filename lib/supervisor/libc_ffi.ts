/**
 * Minimal libc bindings (Deno FFI) for passing file descriptors over unix stream sockets
 * with SCM_RIGHTS, which Deno has no API for. Used by the FUSE fd holder (fuse_fd_holder.ts)
 * and by its tests, which play the juicefs side of the protocol.
 *
 * Linux x86_64 only: struct layouts (sockaddr_un, msghdr, iovec, cmsghdr, pollfd) and flag
 * values are those of x86_64 glibc.
 *
 * Blocking is never done on the JS thread: waiting for a socket to become readable goes
 * through a `poll` symbol declared `nonblocking: true` (runs on a worker thread, returns a
 * Promise); the actual accept/recvmsg/sendmsg calls are then made synchronously with
 * non-blocking flags, so that errno can be read on the same thread right after the call
 * (errno is thread-local, so it is unobservable for calls made on a worker thread).
 *
 * Every fd created here is close-on-exec (SOCK_CLOEXEC, O_CLOEXEC, MSG_CMSG_CLOEXEC), so that
 * held fds never leak into processes the supervisor spawns.
 *
 * Loading the library needs --allow-ffi; it happens on first use, not at import.
 */

export * from "./libc_constants.ts";
import {
  AF_UNIX,
  EAGAIN,
  ECONNABORTED,
  EINTR,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  O_CLOEXEC,
  POLLIN,
  SCM_RIGHTS,
  SHUT_RDWR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  UNIX_PATH_MAX,
} from "./libc_constants.ts";

const SIZEOF_SOCKADDR_UN = 110;
const SIZEOF_MSGHDR = 56;
const SIZEOF_IOVEC = 16;
const SIZEOF_CMSGHDR = 16;

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  poll_wait: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** A failed libc call, with its errno (0 when unknown). */
export class LibcError extends Error {
  constructor(readonly call: string, readonly errno: number, detail = "") {
    super(`${call}${detail ? ` ${detail}` : ""}: ${errnoText(errno)}`);
    this.name = "LibcError";
  }
}

function errnoText(errno: number): string {
  if (errno === 0) return "failed (errno unknown)";
  const p = libc().strerror(errno);
  const text = p === null ? "" : new Deno.UnsafePointerView(p).getCString();
  return `${text || "error"} (errno ${errno})`;
}

/** errno of the last libc call made on this (the JS) thread. Read it right after the call. */
function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** Throws LibcError for a -1 result, else returns the result as a number. */
function check(call: string, ret: number | bigint, detail = ""): number {
  const n = Number(ret);
  if (n === -1) throw new LibcError(call, errno(), detail);
  return n;
}

/** Calls `fn` again while it fails with EINTR. */
function retryEintr(call: string, fn: () => number | bigint, detail = ""): number {
  for (;;) {
    const n = Number(fn());
    if (n !== -1) return n;
    const e = errno();
    if (e !== EINTR) throw new LibcError(call, e, detail);
  }
}

function addressOf(buf: Uint8Array<ArrayBuffer>): bigint {
  const p = Deno.UnsafePointer.of(buf);
  if (p === null) throw new Error("null buffer address");
  return BigInt(Deno.UnsafePointer.value(p));
}

const encoder = new TextEncoder();

function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  if (bytes.includes(0)) throw new Error(`path contains NUL: ${JSON.stringify(s)}`);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Builds a struct sockaddr_un for a filesystem path. */
export function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(path);
  if (bytes.length === 0 || bytes.length > UNIX_PATH_MAX || bytes.includes(0)) {
    throw new Error(`unix socket path must be 1..${UNIX_PATH_MAX} bytes without NUL: ${path}`);
  }
  const sa = new Uint8Array(SIZEOF_SOCKADDR_UN);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(bytes, 2);
  return sa;
}

/** socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK], 0). */
export function unixStreamSocket(nonblocking = false): number {
  const type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  return check("socket", libc().socket(AF_UNIX, type, 0));
}

/**
 * socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC [| SOCK_NONBLOCK], 0): a connection that keeps
 * message boundaries, so one sendmsg is always one recvmsg (the fd keeper's protocol).
 */
export function unixSeqpacketSocket(nonblocking = false): number {
  const type = SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  return check("socket", libc().socket(AF_UNIX, type, 0));
}

export function bindUnix(fd: number, path: string): void {
  const sa = sockaddrUn(path);
  check("bind", libc().bind(fd, sa, sa.byteLength), path);
}

export function listen(fd: number, backlog: number): void {
  check("listen", libc().listen(fd, backlog));
}

/**
 * connect() to a unix socket path. Blocking, but for a local listening socket it completes at
 * once (the connection is queued in the backlog) unless the backlog is full.
 */
export function connectUnix(fd: number, path: string): void {
  const sa = sockaddrUn(path);
  retryEintr("connect", () => libc().connect(fd, sa, sa.byteLength), path);
}

/**
 * accept4() with SOCK_CLOEXEC | SOCK_NONBLOCK on a listening socket; returns the new fd, or
 * null if no connection is pending (EAGAIN) or it was aborted before being accepted.
 */
export function acceptNonblocking(fd: number): number | null {
  for (;;) {
    const n = libc().accept4(fd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (n !== -1) return n;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN || e === ECONNABORTED) return null;
    throw new LibcError("accept4", e);
  }
}

/** poll() on one fd without blocking; returns revents (0 if nothing is ready). */
export function pollNow(fd: number, events: number): number {
  const pfd = pollfd(fd, events);
  retryEintr("poll", () => libc().poll(pfd, 1n, 0));
  return new DataView(pfd.buffer).getInt16(6, true);
}

/**
 * Waits on a worker thread until `fd` has one of `events` (or an error/hangup), or until
 * `timeoutMs` passes (-1: forever). Returns revents, 0 on timeout. The fd must stay open
 * until the returned promise settles. EINTR counts as a spurious wakeup (returns 0).
 */
export async function pollWait(fd: number, events: number, timeoutMs: number): Promise<number> {
  const pfd = pollfd(fd, events);
  const n = await libc().poll_wait(pfd, 1n, Math.max(-1, Math.trunc(timeoutMs)));
  if (n <= 0) return 0; // timeout, or an error whose errno lives on the worker thread
  return new DataView(pfd.buffer).getInt16(6, true);
}

function pollfd(fd: number, events: number): Uint8Array<ArrayBuffer> {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, events, true);
  return pfd;
}

/**
 * One sendmsg() of `payload` with `fds` attached as SCM_RIGHTS (the fds stay open here).
 * MSG_NOSIGNAL: a peer that went away gives EPIPE, not a SIGPIPE that would kill Deno.
 * Non-blocking: a short message to a fresh stream socket never fills its buffer, and a peer
 * that does not read must not hang us. Throws unless the whole payload was sent.
 */
export function sendMsg(fd: number, payload: Uint8Array, fds: readonly number[]): void {
  // A zero-length iovec still needs a valid base address.
  const data = new Uint8Array(Math.max(1, payload.byteLength));
  data.set(payload);
  const iov = new Uint8Array(SIZEOF_IOVEC);
  const iovDv = new DataView(iov.buffer);
  iovDv.setBigUint64(0, addressOf(data), true);
  iovDv.setBigUint64(8, BigInt(payload.byteLength), true);

  let control: Uint8Array<ArrayBuffer> | null = null;
  if (fds.length > 0) {
    control = new Uint8Array(cmsgSpace(4 * fds.length));
    const cdv = new DataView(control.buffer);
    cdv.setBigUint64(0, BigInt(cmsgLen(4 * fds.length)), true);
    cdv.setInt32(8, SOL_SOCKET, true);
    cdv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((f, i) => cdv.setInt32(SIZEOF_CMSGHDR + 4 * i, f, true));
  }

  const msg = new Uint8Array(SIZEOF_MSGHDR);
  const mdv = new DataView(msg.buffer);
  mdv.setBigUint64(16, addressOf(iov), true);
  mdv.setBigUint64(24, 1n, true);
  if (control !== null) {
    mdv.setBigUint64(32, addressOf(control), true);
    mdv.setBigUint64(40, BigInt(control.byteLength), true);
  }
  const sent = retryEintr("sendmsg", () => libc().sendmsg(fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT));
  if (sent !== payload.byteLength) {
    throw new Error(`sendmsg: short write ${sent} of ${payload.byteLength} bytes`);
  }
}

export interface ReceivedMsg {
  /** Bytes received; empty with no fds means the peer closed the connection (EOF). */
  payload: Uint8Array<ArrayBuffer>;
  /** fds received (owned by the caller, close-on-exec). */
  fds: number[];
  /** The payload did not fit and the rest of the message was dropped. */
  payloadTruncated: boolean;
  /** More fds were sent than fit; the kernel closed the extra ones. */
  fdsTruncated: boolean;
}

/**
 * One non-blocking recvmsg(): up to `maxPayload` bytes and `maxFds` fds. Returns null if
 * nothing is ready (EAGAIN). Received fds are close-on-exec.
 */
export function recvMsgNow(fd: number, maxPayload: number, maxFds: number): ReceivedMsg | null {
  const data = new Uint8Array(Math.max(1, maxPayload));
  const iov = new Uint8Array(SIZEOF_IOVEC);
  const iovDv = new DataView(iov.buffer);
  iovDv.setBigUint64(0, addressOf(data), true);
  iovDv.setBigUint64(8, BigInt(data.byteLength), true);
  const control = new Uint8Array(cmsgSpace(4 * Math.max(1, maxFds)));

  const msg = new Uint8Array(SIZEOF_MSGHDR);
  const mdv = new DataView(msg.buffer);
  mdv.setBigUint64(16, addressOf(iov), true);
  mdv.setBigUint64(24, 1n, true);
  mdv.setBigUint64(32, addressOf(control), true);
  mdv.setBigUint64(40, BigInt(control.byteLength), true);

  let n: number;
  for (;;) {
    n = Number(libc().recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n !== -1) break;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new LibcError("recvmsg", e);
  }
  const flags = mdv.getInt32(48, true);
  const controlLen = Number(mdv.getBigUint64(40, true));
  return {
    payload: data.slice(0, n),
    fds: parseRights(control, controlLen),
    payloadTruncated: (flags & MSG_TRUNC) !== 0,
    fdsTruncated: (flags & MSG_CTRUNC) !== 0,
  };
}

/**
 * Waits (without blocking the JS thread) for one message and receives it. Throws on timeout
 * (the caller still owns `fd`). A peer that shuts down or closes the connection yields an
 * empty message (EOF).
 */
export async function recvMsg(
  fd: number,
  opts: { maxPayload?: number; maxFds?: number; timeoutMs?: number } = {},
): Promise<ReceivedMsg> {
  const maxPayload = opts.maxPayload ?? 4096;
  const maxFds = opts.maxFds ?? 2;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (;;) {
    const got = recvMsgNow(fd, maxPayload, maxFds);
    if (got !== null) return got;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`recvmsg: no message within ${opts.timeoutMs} ms`);
    // Wake up at least once a second so a lost wakeup can't hang us.
    await pollWait(fd, POLLIN, Math.min(left, 1000));
  }
}

function cmsgAlign(n: number): number {
  return (n + 7) & ~7;
}

function cmsgLen(n: number): number {
  return SIZEOF_CMSGHDR + n;
}

function cmsgSpace(n: number): number {
  return SIZEOF_CMSGHDR + cmsgAlign(n);
}

function parseRights(control: Uint8Array<ArrayBuffer>, controlLen: number): number[] {
  const dv = new DataView(control.buffer);
  const fds: number[] = [];
  let off = 0;
  while (off + SIZEOF_CMSGHDR <= controlLen) {
    const len = Number(dv.getBigUint64(off, true));
    if (len < SIZEOF_CMSGHDR || off + len > controlLen) break;
    if (dv.getInt32(off + 8, true) === SOL_SOCKET && dv.getInt32(off + 12, true) === SCM_RIGHTS) {
      for (let p = off + SIZEOF_CMSGHDR; p + 4 <= off + len; p += 4) fds.push(dv.getInt32(p, true));
    }
    off += cmsgAlign(len);
  }
  return fds;
}

/** shutdown(fd, SHUT_RDWR); errors (e.g. ENOTCONN) are ignored. Wakes up pollers of fd. */
export function shutdownFd(fd: number): void {
  libc().shutdown(fd, SHUT_RDWR);
}

/** close(fd). Not retried on EINTR (on Linux the fd is gone either way). */
export function closeFd(fd: number): void {
  const r = libc().close(fd);
  if (r === -1) {
    const e = errno();
    if (e !== EINTR) throw new LibcError("close", e, `fd ${fd}`);
  }
}

/** Duplicates `fd` to the lowest free fd number, close-on-exec (fcntl F_DUPFD_CLOEXEC). */
export function dupFd(fd: number): number {
  const F_DUPFD_CLOEXEC = 1030;
  return check("fcntl", libc().fcntl(fd, F_DUPFD_CLOEXEC, 0), `F_DUPFD_CLOEXEC fd ${fd}`);
}

/** open(path, flags | O_CLOEXEC, mode). */
export function openFd(path: string, flags: number, mode = 0o600): number {
  const p = cString(path);
  return retryEintr("open", () => libc().open(p, flags | O_CLOEXEC, mode), path);
}

/** pipe2(O_CLOEXEC): returns [readEnd, writeEnd]. */
export function pipe(): [number, number] {
  const buf = new Uint8Array(8);
  check("pipe2", libc().pipe2(buf, O_CLOEXEC));
  const dv = new DataView(buf.buffer);
  return [dv.getInt32(0, true), dv.getInt32(4, true)];
}

/** One read() of up to `max` bytes (blocking: use only on fds known to be ready). */
export function readFd(fd: number, max: number): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(Math.max(1, max));
  const n = retryEintr("read", () => libc().read(fd, buf, BigInt(buf.byteLength)), `fd ${fd}`);
  return buf.slice(0, n);
}

/** One write(); returns the number of bytes written. */
export function writeFd(fd: number, data: Uint8Array): number {
  const buf = new Uint8Array(Math.max(1, data.byteLength));
  buf.set(data);
  return retryEintr("write", () => libc().write(fd, buf, BigInt(data.byteLength)), `fd ${fd}`);
}

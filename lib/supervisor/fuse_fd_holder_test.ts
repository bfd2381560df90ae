// Unit tests of the FUSE fd holder. The client below plays juicefs's side of the protocol
// (cmd/passfd.go getFuseFd/sendFuseFd) with the same FFI bindings; pipes and temp files stand
// in for /dev/fuse. Needs --allow-ffi (the tests are ignored without it).
import nodeAssert from "node:assert/strict";
import { assert, assertEquals } from "../testing/assert.ts";
import { type FuseFdHolder, startFuseFdHolder } from "./fuse_fd_holder.ts";
import {
  bindUnix,
  closeFd,
  connectUnix,
  O_RDONLY,
  O_RDWR,
  openFd,
  pipe,
  POLLHUP,
  POLLIN,
  pollNow,
  readFd,
  type ReceivedMsg,
  recvMsg,
  sendMsg,
  unixStreamSocket,
  writeFd,
} from "./libc_ffi.ts";

const assertFalse = (cond: unknown, msg?: string): void => assert(!cond, msg);
async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => Error,
  includes = "",
): Promise<void> {
  await nodeAssert.rejects(fn, (e: unknown) => e instanceof type && e.message.includes(includes));
}

const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A 104-byte stand-in for the go-fuse InitIn juicefs sends as the setting. */
const SETTING = Uint8Array.from({ length: 104 }, (_, i) => (i * 7 + 3) & 0xff);

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !ffi, fn });
}

function openFds(): Set<string> {
  return new Set([...Deno.readDirSync("/proc/self/fd")].map((e) => e.name));
}

/** Runs fn with a fresh dir and asserts that no fd was leaked by the end of it. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fdholder" });
  const before = openFds();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const leaked = [...openFds()].filter((fd) => !before.has(fd))
    .map((fd) => `${fd} -> ${readLink(`/proc/self/fd/${fd}`)}`);
  assertEquals(leaked, [], "fds leaked");
}

function readLink(p: string): string {
  try {
    return Deno.readLinkSync(p);
  } catch {
    return "?";
  }
}

function collectingLog(): { log: (m: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (m) => lines.push(m), lines };
}

/** Connects and receives the holder's first message (the caller owns the returned fds). */
async function dial(path: string): Promise<{ conn: number; msg: ReceivedMsg }> {
  const conn = unixStreamSocket();
  try {
    connectUnix(conn, path);
    const msg = await recvMsg(conn, { maxPayload: 120, maxFds: 2, timeoutMs: 5000 });
    return { conn, msg };
  } catch (e) {
    closeFd(conn);
    throw e;
  }
}

/** juicefs sendFuseFd: dial, drop what the holder sends, reply with the setting + the fd. */
async function handOver(path: string, fd: number, setting: Uint8Array = SETTING): Promise<void> {
  const { conn, msg } = await dial(path);
  try {
    msg.fds.forEach(closeFd);
    sendMsg(conn, setting, [fd]);
  } finally {
    closeFd(conn);
  }
}

/** juicefs getFuseFd: dial, close fds[0], if 2 fds came reply "CLOSE" with a placeholder. */
async function fetchFd(path: string): Promise<{ fd: number | null; setting: Uint8Array }> {
  const { conn, msg } = await dial(path);
  try {
    const [placeholder, fuseFd] = msg.fds;
    assert(placeholder !== undefined, "the holder must always send a placeholder fd");
    assertEquals(readLink(`/proc/self/fd/${placeholder}`), "/dev/null");
    closeFd(placeholder);
    if (fuseFd === undefined) return { fd: null, setting: msg.payload };
    const dummy = openFd("/dev/null", O_RDONLY);
    try {
      sendMsg(conn, enc.encode("CLOSE"), [dummy]);
    } finally {
      closeFd(dummy);
    }
    return { fd: fuseFd, setting: msg.payload };
  } finally {
    closeFd(conn);
  }
}

/** The holder handles a connection asynchronously: wait for its effect. */
async function eventually(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function inode(fd: number): number | null {
  return Deno.statSync(`/proc/self/fd/${fd}`).ino;
}

function isCloexec(fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)$/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0;
}

/** True once every write end of the pipe whose read end is `r` is closed. */
function writersGone(r: number): boolean {
  return (pollNow(r, POLLIN) & POLLHUP) !== 0;
}

test("hands a held fd back to the next connection and keeps its own copy", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/run/holder.sock`;
    const { log, lines } = collectingLog();
    const holder = await startFuseFdHolder(path, { log });
    const [r, w] = pipe();
    try {
      assertEquals((await Deno.lstat(path)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(`${dir}/run`)).mode! & 0o777, 0o700);
      assertFalse(holder.holdsFd());

      // Nothing held yet: "FUSE" and only the placeholder.
      const none = await fetchFd(path);
      assertEquals(none.fd, null);
      assertEquals(dec.decode(none.setting), "FUSE");

      await handOver(path, w);
      await eventually(() => holder.holdsFd(), "holder holds the fd");
      closeFd(w); // from here on only the holder has the write end

      for (const round of [1, 2]) {
        const got = await fetchFd(path);
        assert(got.fd !== null, `round ${round}: fd expected`);
        assertEquals(got.setting, SETTING);
        assert(isCloexec(got.fd), "received fds are close-on-exec");
        // Same open file: writing through the fetched fd comes out of our read end.
        assertEquals(writeFd(got.fd, enc.encode(`hello ${round}`)), 7);
        assertEquals(dec.decode(readFd(r, 64)), `hello ${round}`);
        closeFd(got.fd);
        assert(holder.holdsFd(), "the holder keeps its own copy after handing it out");
        assertFalse(writersGone(r));
      }
    } finally {
      await holder.close();
    }
    assertFalse(holder.holdsFd());
    assert(writersGone(r), "close() closed the held fd");
    closeFd(r);
    await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);
    assert(lines.some((l) => l.includes("holding FUSE fd")), lines.join("\n"));
  });
});

test("a handed-over temp file is the same file (inode) and a new hand-over replaces the old fd", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    const holder = await startFuseFdHolder(path);
    const [r, w] = pipe();
    try {
      await handOver(path, w);
      await eventually(() => holder.holdsFd(), "holder holds the pipe");
      closeFd(w);

      // juicefs's sendFuseFd after a fresh mount: the new fd replaces the held one.
      await Deno.writeTextFile(`${dir}/dev`, "fuse device stand-in");
      const f = openFd(`${dir}/dev`, O_RDWR);
      const ino = inode(f);
      const setting2 = enc.encode("second setting");
      await handOver(path, f, setting2);
      closeFd(f);
      await eventually(() => writersGone(r), "old held fd closed on replacement");

      const got = await fetchFd(path);
      assert(got.fd !== null);
      assertEquals(inode(got.fd), ino);
      assertEquals(dec.decode(got.setting), "second setting");
      assertEquals(dec.decode(readFd(got.fd, 64)), "fuse device stand-in");
      closeFd(got.fd);
    } finally {
      closeFd(r);
      await holder.close();
    }
  });
});

test("CLOSE, EOF, silent and malformed clients neither change the held fd nor stop the server", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    const { log, lines } = collectingLog();
    const holder = await startFuseFdHolder(path, { log, replyTimeoutMs: 200 });
    const [r, w] = pipe();
    try {
      await handOver(path, w);
      await eventually(() => holder.holdsFd(), "holder holds the pipe");
      closeFd(w);

      // "CLOSE" with one fd (what getFuseFd sends): the fd is closed, nothing replaced.
      const [r2, w2] = pipe();
      {
        const { conn, msg } = await dial(path);
        msg.fds.forEach(closeFd);
        sendMsg(conn, enc.encode("CLOSE"), [w2]);
        closeFd(conn);
      }
      closeFd(w2);
      await eventually(() => writersGone(r2), "the fd sent with CLOSE was closed");
      closeFd(r2);

      // Two fds with a setting: not a hand-over, both closed.
      const [r3, w3] = pipe();
      {
        const { conn, msg } = await dial(path);
        msg.fds.forEach(closeFd);
        const extra = openFd("/dev/null", O_RDONLY);
        sendMsg(conn, SETTING, [w3, extra]);
        closeFd(extra);
        closeFd(conn);
      }
      closeFd(w3);
      await eventually(() => writersGone(r3), "both fds of a malformed message were closed");
      closeFd(r3);

      // EOF without a reply (go-fuse's closeFuseFd does this).
      {
        const { conn, msg } = await dial(path);
        msg.fds.forEach(closeFd);
        closeFd(conn);
      }

      // A client that reads and then says nothing: timed out, logged, the server goes on.
      {
        const { conn, msg } = await dial(path);
        msg.fds.forEach(closeFd);
        await eventually(() => lines.some((l) => l.includes("no message within")), "reply timeout");
        closeFd(conn);
      }

      const got = await fetchFd(path);
      assert(got.fd !== null, "still holding the original fd");
      assertEquals(got.setting, SETTING);
      writeFd(got.fd, enc.encode("x"));
      assertEquals(dec.decode(readFd(r, 8)), "x");
      closeFd(got.fd);
      assertFalse(writersGone(r));
    } finally {
      await holder.close();
    }
    assert(writersGone(r));
    closeFd(r);
  });
});

test("a held fd whose other side is gone is dropped instead of being handed out", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    const { log, lines } = collectingLog();
    const holder = await startFuseFdHolder(path, { log });
    try {
      // A pipe write end polls POLLERR once its read end is closed, like an aborted
      // /dev/fuse connection does.
      const [r, w] = pipe();
      await handOver(path, w);
      await eventually(() => holder.holdsFd(), "holder holds the pipe");
      closeFd(w);
      closeFd(r);
      assertFalse(holder.holdsFd());
      const got = await fetchFd(path);
      assertEquals(got.fd, null);
      assertEquals(dec.decode(got.setting), "FUSE");
      assert(lines.some((l) => l.includes("connection is gone")), lines.join("\n"));
    } finally {
      await holder.close();
    }
  });
});

test("restart: a stale socket file is replaced, a non-socket is refused, close() is idempotent", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    // A socket file left behind by a crashed holder (bound, never unlinked).
    const stale = unixStreamSocket();
    bindUnix(stale, path);
    closeFd(stale);

    let holder: FuseFdHolder = await startFuseFdHolder(path);
    const [r, w] = pipe();
    await handOver(path, w);
    await eventually(() => holder.holdsFd(), "first holder holds the pipe");
    closeFd(w);
    await Promise.all([holder.close(), holder.close()]);
    await holder.close();
    assert(writersGone(r));
    closeFd(r);
    await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);

    holder = await startFuseFdHolder(path);
    try {
      assertFalse(holder.holdsFd());
      const got = await fetchFd(path);
      assertEquals(got.fd, null);
    } finally {
      await holder.close();
    }

    await Deno.writeTextFile(path, "not a socket");
    await assertRejects(() => startFuseFdHolder(path), Error, "not a socket");
    assertEquals(await Deno.readTextFile(path), "not a socket");
  });
});

test("close() while a client is mid-connection returns promptly and leaks nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    const holder = await startFuseFdHolder(path, { replyTimeoutMs: 60_000 });
    const { conn, msg } = await dial(path);
    msg.fds.forEach(closeFd);
    const t0 = Date.now();
    await holder.close();
    assert(Date.now() - t0 < 2000, `close() took ${Date.now() - t0} ms`);
    closeFd(conn);
    await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);
  });
});

test("an adopted fd (from the node plugin's keeper) goes to the next juicefs; each new fd is a new generation", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/holder.sock`;
    const holder = await startFuseFdHolder(path);
    const [r, w] = pipe();
    const [r2, w2] = pipe();
    try {
      assertEquals(holder.held(), null);
      holder.adopt(w, SETTING);
      const first = holder.held();
      assert(first !== null && first.fd === w);
      const got = await fetchFd(path);
      assert(got.fd !== null);
      assertEquals(got.setting, SETTING);
      writeFd(got.fd, enc.encode("x"));
      assertEquals(dec.decode(readFd(r, 8)), "x", "the adopted pipe went to juicefs");
      closeFd(got.fd);

      await handOver(path, w2); // juicefs hands a (new) fd back after resuming
      await eventually(() => holder.held()?.fd !== w, "the new fd held");
      assert(holder.held()!.generation > first.generation);
      assert(writersGone(r), "the adopted fd was closed when replaced");
    } finally {
      await holder.close();
      for (const fd of [r, r2, w2]) closeFd(fd);
    }
  });
});

// Unit tests of the node plugin's FUSE fd keeper and the supervisor's link to it, over real
// sockets. Pipes stand in for /dev/fuse (the keeper's device and liveness checks are injected):
// a byte written through a fd that came back proves it is the same pipe. Every test checks that
// no fd leaked. Needs --allow-ffi (ignored without it).
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { FuseFdKeeper } from "./fuse_fd_keeper.ts";
import { FdKeeperLink } from "../supervisor/fd_keeper_link.ts";
import type { HeldFuseFd } from "../supervisor/fuse_fd_holder.ts";
import {
  bindUnix,
  closeFd,
  connectUnix,
  pipe,
  readFd,
  recvMsg,
  sendMsg,
  unixSeqpacketSocket,
  writeFd,
} from "../supervisor/libc_ffi.ts";
import { decodeMessage, encodeMessage } from "../supervisor/fd_keeper_protocol.ts";

const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
const SETTING = Uint8Array.from({ length: 104 }, (_, i) => (i * 5 + 1) & 0xff);
const dec = new TextDecoder();

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !ffi, fn });
}

function openFds(): Set<string> {
  return new Set([...Deno.readDirSync("/proc/self/fd")].map((e) => e.name));
}

/** A pipe standing in for a FUSE connection: `dead` plays an aborted connection. */
class FakeConnection {
  readonly r: number;
  readonly w: number;
  dead = false;
  constructor() {
    [this.r, this.w] = pipe();
  }
  /** Whether `fd` writes into this pipe. */
  reaches(fd: number): boolean {
    const probe = new TextEncoder().encode(`probe-${fd}`);
    writeFd(fd, probe);
    return dec.decode(readFd(this.r, 64)) === `probe-${fd}`;
  }
  close(): void {
    closeFd(this.r);
    closeFd(this.w);
  }
}

interface Rig {
  dir: string;
  keeper: FuseFdKeeper;
  conn: FakeConnection;
  /** What the supervisor's holder holds. */
  holder: { held(): HeldFuseFd | null; current: HeldFuseFd | null };
  newKeeper(): FuseFdKeeper;
}

/** Fresh dir, keeper and fake connection; asserts at the end that no fd leaked. */
async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fdkeeper" });
  const before = openFds();
  const conn = new FakeConnection();
  const keepers: FuseFdKeeper[] = [];
  const newKeeper = () => {
    const k = new FuseFdKeeper(`${dir}/keeper`, {
      isFuseDevice: (fd) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${fd}`).startsWith("pipe:");
        } catch {
          return false;
        }
      },
      isDead: () => conn.dead,
    });
    keepers.push(k);
    return k;
  };
  const holder = {
    current: { fd: conn.w, setting: SETTING, generation: 1 } as HeldFuseFd | null,
    held() {
      return this.current;
    },
  };
  try {
    await fn({ dir, keeper: newKeeper(), conn, holder, newKeeper });
  } finally {
    for (const k of keepers) await k.closeAll();
    conn.close();
    await Deno.remove(dir, { recursive: true });
  }
  const leaked = [...openFds()].filter((fd) => !before.has(fd));
  assertEquals(leaked, [], "fds leaked");
}

function link(rig: Rig, key = "k1"): FdKeeperLink {
  return new FdKeeperLink(rig.keeper.socketPath(key), rig.holder, { retryMs: 20, replyTimeoutMs: 2000 });
}

/** A supervisor that offers its fd once and goes away. */
async function handOverOnce(rig: Rig, key = "k1"): Promise<boolean> {
  const l = link(rig, key);
  try {
    return await l.handOver(2000);
  } finally {
    await l.close();
  }
}

async function eventually(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (probe()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** One raw request on a fresh connection; returns the answer's verb and body, closing any fd. */
async function rawRequest(path: string, payload: Uint8Array, fds: number[] = []): Promise<string> {
  const s = unixSeqpacketSocket(true);
  try {
    connectUnix(s, path);
    sendMsg(s, payload, fds);
    const reply = await recvMsg(s, { timeoutMs: 2000 });
    reply.fds.forEach(closeFd);
    const m = decodeMessage(reply.payload);
    return `${m.verb} ${dec.decode(m.body)}`.trim();
  } finally {
    closeFd(s);
  }
}

Deno.test("fd keeper: paths per key; a key that is not one path component is INVALID_ARGUMENT", async () => {
  const k = new FuseFdKeeper("/var/lib/csi-jfs/fd-keeper");
  assertEquals(k.socketPath("fs-abc"), "/var/lib/csi-jfs/fd-keeper/fs-abc/fd-keeper.sock");
  assertEquals(k.releaseFile("fs-abc"), "/var/lib/csi-jfs/fd-keeper/fs-abc/release");
  for (const bad of ["", "..", "a/b", "../x", ".hidden", "a\nb"]) {
    await assertCodedError(
      () => k.start(bad),
      Code.INVALID_ARGUMENT,
      /client key .* is not one path component/,
    );
  }
});

test("fd keeper: a supervisor's fd is kept, and a copy goes to the next supervisor while the keeper keeps its own", async () => {
  await withRig(async (rig) => {
    await rig.keeper.start("k1");
    await rig.keeper.start("k1"); // idempotent
    assertEquals((await Deno.lstat(rig.keeper.socketPath("k1"))).mode! & 0o777, 0o600);
    const l = link(rig);
    assert(await l.handOver(2000), "the keeper confirmed");
    assert(rig.keeper.holds("k1"));
    await l.close();

    // The supervisor and its fd are gone; a replacement fetches a copy, twice.
    for (let i = 0; i < 2; i++) {
      const got = await link(rig).fetch(2000);
      assert(got !== null, "a copy for the replacement");
      assertEquals(got.setting, SETTING);
      assert(rig.conn.reaches(got.fd), "the same connection");
      closeFd(got.fd);
    }
    assert(rig.keeper.holds("k1"), "the keeper kept its own copy");
  });
});

test("fd keeper: a dead connection is dropped, never handed out", async () => {
  await withRig(async (rig) => {
    await rig.keeper.start("k1");
    assert(await handOverOnce(rig));
    rig.conn.dead = true;
    assertEquals(await link(rig).fetch(2000), null);
    assert(!rig.keeper.holds("k1"));
    // And a dead fd is refused outright.
    const l = link(rig);
    assertEquals(await l.handOver(500), false);
    await l.close();
  });
});

test("fd keeper: refuses what is not a FUSE fd, malformed and unknown requests, and keeps serving", async () => {
  await withRig(async (rig) => {
    await rig.keeper.start("k1");
    const path = rig.keeper.socketPath("k1");
    const [r, w] = pipe();
    try {
      assertEquals(
        await rawRequest(path, encodeMessage("KEEP", SETTING)),
        "ERR KEEP needs exactly one fd, got 0",
      );
      assertEquals(
        await rawRequest(path, encodeMessage("KEEP", SETTING), [r, w]),
        "ERR KEEP needs exactly one fd, got 2",
      );
      assertEquals(
        await rawRequest(path, new TextEncoder().encode("HELLO\n")),
        'ERR unknown request "HELLO"',
      );
      assertEquals(
        await rawRequest(path, new TextEncoder().encode("no newline")),
        'ERR unknown request "no newline"',
      );
      assertEquals(await rawRequest(path, encodeMessage("FETCH")), "NONE");
    } finally {
      closeFd(r);
      closeFd(w);
    }
    const notFuse = new FuseFdKeeper(`${rig.dir}/strict`); // the real /dev/fuse check
    await notFuse.start("k2");
    const [r2, w2] = pipe();
    try {
      assertEquals(
        await rawRequest(notFuse.socketPath("k2"), encodeMessage("KEEP", SETTING), [w2]),
        "ERR the fd is not /dev/fuse",
      );
    } finally {
      closeFd(r2);
      closeFd(w2);
      await notFuse.closeAll();
    }
    assert(await handOverOnce(rig), "still serving");
    assert(rig.keeper.holds("k1"));
  });
});

test("fd keeper: a restarted keeper regains the fd from the running supervisor, through a stale socket", async () => {
  await withRig(async (rig) => {
    await rig.keeper.start("k1");
    const l = link(rig);
    l.start();
    await eventually("the first keeper holding", () => rig.keeper.holds("k1"));
    // The process "exits": its fds go, its socket file may stay (SIGKILL leaves it).
    await rig.keeper.closeAll();
    const stale = unixSeqpacketSocket();
    bindUnix(stale, rig.keeper.socketPath("k1"));
    closeFd(stale);
    const next = rig.newKeeper();
    await next.adoptAll();
    assertEquals(next.keys(), ["k1"]);
    await eventually("the new keeper holding", () => next.holds("k1"));
    // A new fd in the supervisor (a fresh mount) is offered on the same connection.
    const other = new FakeConnection();
    try {
      rig.holder.current = { fd: other.w, setting: SETTING, generation: 2 };
      assert(await l.handOver(2000));
      const got = await link(rig).fetch(2000);
      assert(got !== null && other.reaches(got.fd), "the keeper holds the new connection");
      closeFd(got.fd);
      await l.close();
      await next.closeAll();
    } finally {
      other.close();
    }
  });
});

test("fd keeper: drop() closes the fd and removes the socket and release file; stop() keeps fds", async () => {
  await withRig(async (rig) => {
    await rig.keeper.start("k1");
    await rig.keeper.start("k2");
    await rig.keeper.requestRelease("k1");
    assertEquals((await Deno.lstat(rig.keeper.releaseFile("k1"))).mode! & 0o777, 0o600);
    assert(await handOverOnce(rig, "k1"));
    assert(await handOverOnce(rig, "k2"));
    await rig.keeper.drop("k1");
    await rig.keeper.drop("k1");
    assert(!rig.keeper.holds("k1"));
    await assertRejectsNotFound(rig.keeper.socketPath("k1"));
    await assertRejectsNotFound(rig.keeper.releaseFile("k1"));
    await rig.keeper.stop();
    assert(rig.keeper.holds("k2"), "stop() leaves the fds to the process exit");
    await assertRejectsNotFound(rig.keeper.socketPath("k2"));
    assertEquals(await link(rig, "k2").fetch(100), null, "nobody listens after stop()");
  });
});

test("fd keeper: without a keeper socket, fetch answers null at once and the link retries quietly", async () => {
  await withRig(async (rig) => {
    assertEquals(await link(rig, "absent").fetch(5000), null);
    const l = link(rig, "late");
    l.start();
    await new Promise((r) => setTimeout(r, 60));
    await rig.keeper.start("late"); // the node plugin comes up after the Mount Pod
    await eventually("the late keeper holding", () => rig.keeper.holds("late"));
    await l.close();
  });
});

async function assertRejectsNotFound(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (e) {
    assert(e instanceof Deno.errors.NotFound, String(e));
    return;
  }
  throw new Error(`${path} still exists`);
}

test("fd keeper: racing start() and drop() of one key leaves one listener or none, never two", async () => {
  await withRig(async (rig) => {
    const rounds = 200;
    await Promise.all(Array.from({ length: rounds }, () => rig.keeper.start("k1")));
    assertEquals(rig.keeper.keys(), ["k1"]);
    assert(await handOverOnce(rig), "the one listener serves");
    for (let i = 0; i < rounds; i++) {
      const ops = [rig.keeper.start("k1"), rig.keeper.drop("k1"), rig.keeper.start("k1")];
      await Promise.allSettled(ops);
    }
    await rig.keeper.start("k1");
    assert(await handOverOnce(rig), "still serving after the races");
    await rig.keeper.drop("k1");
    await assertRejectsNotFound(rig.keeper.socketPath("k1"));
    console.log(`${rounds} concurrent starts, then ${rounds} start/drop/start rounds`);
  });
});

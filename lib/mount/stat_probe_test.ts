import { assertEquals } from "../testing/assert.ts";
import {
  childProbeStat,
  childProbeStatfs,
  type FsUsage,
  outstandingProbes,
  type ProbeCalls,
  probeStat,
  probeStatfs,
} from "./stat_probe.ts";
import { openScope, withCallScope } from "../call_scope.ts";

/** A stand-in for `stat` that behaves as given (sleeps like a stopped FUSE client, or fails). */
async function fakeStat(body: string): Promise<string> {
  const f = await Deno.makeTempFile({ prefix: "fake-stat-" });
  await Deno.writeTextFile(f, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(f, 0o755);
  return f;
}

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

/** In-process calls that fail as given, or (stopped) never answer until released. */
class FakeCalls implements ProbeCalls {
  count = 0;
  private waiting: Array<() => void> = [];
  constructor(private behaviour: "stopped" | Error) {}
  private answer<T>(): Promise<T> {
    this.count++;
    if (this.behaviour instanceof Error) return Promise.reject(this.behaviour);
    return new Promise((_, reject) => this.waiting.push(() => reject(errno("ENOTCONN", "resumed"))));
  }
  stat = (_path: string): Promise<unknown> => this.answer();
  statfs = (_path: string): Promise<FsUsage> => this.answer();
  /** The client runs again: every stuck call returns. */
  release(): Promise<void> {
    this.waiting.splice(0).forEach((r) => r());
    return new Promise((r) => setTimeout(r, 0));
  }
}

Deno.test("probeStat: real paths and errno codes, in-process", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/f`, "");
  try {
    const cases: Array<[string, string, ProbeCalls | undefined, string]> = [
      ["an existing directory", dir, undefined, "ok"],
      ["an existing file", `${dir}/f`, undefined, "ok"],
      ["a missing path", `${dir}/nope`, undefined, "missing"],
      ["a path under a file", `${dir}/f/x`, undefined, "missing"],
      ["a dead FUSE connection", dir, new FakeCalls(errno("ENOTCONN", "Transport endpoint...")), "corrupted"],
      ["a stale handle", dir, new FakeCalls(errno("ESTALE", "Stale file handle")), "corrupted"],
      [
        "an I/O error without a code",
        dir,
        new FakeCalls(new Error("Input/output error (os error 5)")),
        "corrupted",
      ],
    ];
    for (const [what, path, calls, want] of cases) {
      assertEquals(await probeStat(path, calls ? { calls } : {}), want, what);
    }
    let thrown = "";
    await probeStat(dir, { calls: new FakeCalls(errno("ELOOP", "Too many levels")) })
      .catch((e) => (thrown = (e as Error).message));
    assertEquals(thrown, `stat ${dir}: Too many levels`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeStat: a stopped client is one stuck call however often it is probed", async () => {
  const calls = new FakeCalls("stopped");
  const path = "/stopped/client/a";
  const before = outstandingProbes();
  // Three concurrent probes share the first call; all answer "hung" after the timeout.
  const first = await Promise.all([1, 2, 3].map(() => probeStat(path, { calls, timeoutMs: 100 })));
  assertEquals(first, ["hung", "hung", "hung"]);
  assertEquals(calls.count, 1, "calls made");
  // The call is older than any timeout now: a later probe answers at once, with no new call.
  assertEquals(await probeStat(path, { calls, timeoutMs: 100 }), "hung");
  assertEquals(calls.count, 1, "calls made after the timeout");
  assertEquals(outstandingProbes(), before + 1);
  // Resumed: the stuck call returns and the next probe calls again.
  await calls.release();
  assertEquals(outstandingProbes(), before);
  assertEquals(await probeStat(path, { calls: new FakeCalls(errno("ENOENT", "gone")) }), "missing");
});

Deno.test("probeStat: a caller's near deadline shortens the wait below the default", async () => {
  const calls = new FakeCalls("stopped");
  // The default bound is 5 s; the caller allows 300 ms, so the probe must give up on its own
  // well before Deno's test timeout, and say "hung".
  const { scope, dispose } = openScope("NodeGetVolumeStats", Date.now() + 300);
  assertEquals(await withCallScope(scope, () => probeStat("/stopped/client/b", { calls })), "hung");
  dispose();
  await calls.release();
});

Deno.test("probeStat: past maxOutstanding stuck calls, a child process probes", async () => {
  const dir = await Deno.makeTempDir();
  const hang = await fakeStat("exec sleep 30");
  const enotconn = await fakeStat(
    `echo "stat: cannot statx '$3': Transport endpoint is not connected" >&2; exit 1`,
  );
  const weird = await fakeStat(`echo "stat: something else" >&2; exit 1`);
  const stuck = new FakeCalls("stopped");
  try {
    assertEquals(await probeStat("/stopped/client/c", { calls: stuck, timeoutMs: 50 }), "hung");
    const full = { maxOutstanding: 1, calls: new FakeCalls(new Error("must not be called")) };
    const cases: Array<[string, string, string | undefined, string]> = [
      ["an existing directory", dir, undefined, "ok"],
      ["a missing path", `${dir}/nope`, undefined, "missing"],
      ["a dead FUSE connection", dir, enotconn, "corrupted"],
      ["a client that never answers", dir, hang, "hung"],
    ];
    for (const [what, path, statCommand, want] of cases) {
      const opts = { ...full, timeoutMs: 200, ...(statCommand ? { statCommand } : {}) };
      assertEquals(await probeStat(path, opts), want, what);
    }
    assertEquals(full.calls.count, 0, "in-process calls once full");
    let thrown = "";
    await childProbeStat(dir, { statCommand: weird }).catch((e) => (thrown = (e as Error).message));
    assertEquals(thrown, `stat ${dir}: stat: something else`);
  } finally {
    await stuck.release();
    for (const f of [hang, enotconn, weird]) await Deno.remove(f);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeStatfs: usage of a real file system, as `stat -f` reports it; hung and missing", async () => {
  const dir = await Deno.makeTempDir();
  const hang = await fakeStat("exec sleep 30");
  try {
    const u = await probeStatfs(dir);
    const c = await childProbeStatfs(dir);
    if (typeof u === "string" || typeof c === "string") throw new Error(`statfs of ${dir}: ${u} ${c}`);
    assertEquals(u.blocks > 0n && u.bsize > 0n && u.bavail <= u.blocks, true);
    assertEquals([u.blocks, u.bsize, u.files], [c.blocks, c.bsize, c.files], "FFI and stat -f agree");
    assertEquals(await probeStatfs(`${dir}/nope`), "missing");
    assertEquals(await probeStatfs(`${dir}/nope`, { maxOutstanding: 0 }), "missing");
    const calls = new FakeCalls("stopped");
    assertEquals(await probeStatfs(dir, { calls, timeoutMs: 100 }), "hung");
    await calls.release();
    assertEquals(await childProbeStatfs(dir, { statCommand: hang, timeoutMs: 200 }), "hung");
  } finally {
    await Deno.remove(hang);
    await Deno.remove(dir, { recursive: true });
  }
});

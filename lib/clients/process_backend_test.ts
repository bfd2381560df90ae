import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { ProcessBackend } from "./process_backend.ts";
import { clientKey, type ClientSpec } from "./backend.ts";
import type { ProcessTable } from "./process_table.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import type { PathHealth } from "../mount/mounter.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";

const PASSWORD = "pb-pass-6620";
const spec: ClientSpec = {
  settings: settingsFromSecrets({ name: "myfs", metaurl: `redis://:${PASSWORD}@redis:6379/1` }),
  mountFlags: ["--cache-size=0"],
};
const KEY = clientKey(spec);

/** Processes by pid: which are alive, which are supervisors of which mount path; records signals. */
class FakeProcesses implements ProcessTable {
  alive = new Set<number>();
  supervisorOf = new Map<number, string>();
  signals: string[] = [];
  /** Optional wait before answering isAlive (to let a real child finish). */
  beforeIsAlive: (() => Promise<void>) | undefined;

  async isAlive(pid: number): Promise<boolean> {
    await this.beforeIsAlive?.();
    return this.alive.has(pid);
  }
  isSupervisor(pid: number, mountPath: string): Promise<boolean> {
    return Promise.resolve(this.alive.has(pid) && this.supervisorOf.get(pid) === mountPath);
  }
  signal(pid: number, sig: Deno.Signal): Promise<void> {
    this.signals.push(`${sig} ${pid}`);
    this.alive.delete(pid);
    return Promise.resolve();
  }
}

/** Health answers scripted per call (a restarting client), then "ok". */
class ScriptedMounter extends FakeMounter {
  script: PathHealth[] = [];
  override health(path: string): Promise<PathHealth> {
    return Promise.resolve(this.script.shift() ?? this.healthOf.get(path) ?? "ok");
  }
}

interface Env {
  state: string;
  dir: string;
  mountPath: string;
  mounter: ScriptedMounter;
  processes: FakeProcesses;
  backend: (selfCommand?: string[], readyTimeoutMs?: number) => ProcessBackend;
}

async function withState(fn: (e: Env) => Promise<void>): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "process_backend_test" });
  try {
    const mounter = new ScriptedMounter();
    const processes = new FakeProcesses();
    const backend = (selfCommand = ["false"], readyTimeoutMs = 1000) =>
      new ProcessBackend({ stateDir: state, selfCommand, mounter, processes, readyTimeoutMs });
    const dir = join(state, "clients", KEY);
    await fn({ state, dir, mountPath: join(dir, "mnt"), mounter, processes, backend });
  } finally {
    await Deno.remove(state, { recursive: true });
  }
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

async function writePid(dir: string, pid: number): Promise<void> {
  await Deno.mkdir(join(dir, "mnt"), { recursive: true });
  await Deno.writeTextFile(join(dir, "supervisor.pid"), `${pid}\n`);
}

Deno.test("process backend: a live JuiceFS mount at the client's path is adopted, nothing started", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    mounter.addMount(mountPath);
    const b = backend();
    assertEquals(b.mountPathOf(KEY), mountPath);
    assertEquals(await b.ensure(spec), { key: KEY, mountPath });
    assertEquals(mounter.actions, []);
    assertEquals(processes.signals, []);
    assert(!(await exists(join(dir, "settings.json"))), "no settings written: nothing started");
  });
});

Deno.test("process backend: a supervisor restarting its client is waited for, not replaced", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    await writePid(dir, 4242);
    processes.alive.add(4242);
    processes.supervisorOf.set(4242, mountPath);
    mounter.addMount(mountPath);
    mounter.script = ["corrupted"]; // first look: the crashed client's mount, not answering yet
    assertEquals(await backend().ensure(spec), { key: KEY, mountPath });
    assertEquals(processes.signals, []);
    assertEquals(mounter.actions, []);
  });
});

Deno.test("process backend: a mount of another type is not adopted (the start is attempted)", async () => {
  await withState(async ({ backend, mounter, mountPath }) => {
    mounter.addMount(mountPath, "tmpfs");
    await assertCodedError(() => backend(["false"], 0).ensure(spec), Code.UNAVAILABLE, /did not mount/);
    assertEquals(mounter.actions, [`umount -l ${mountPath}`]);
  });
});

Deno.test("process backend: a failed start is UNAVAILABLE with the log's errors, redacted", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    const done = join(dir, "argv");
    // Stands in for csi-jfs --mode=mount-supervisor: logs an error, records its argv, exits.
    const script = `for a in "$@"; do case "$a" in --log-file=*) echo "ERROR auth failed for ${PASSWORD}" ` +
      `> "\${a#--log-file=}";; esac; done; printf '%s\\n' "$@" > "${done}.tmp"; mv "${done}.tmp" "${done}"`;
    processes.beforeIsAlive = async () => {
      for (let i = 0; i < 200 && !(await exists(done)); i++) await new Promise((r) => setTimeout(r, 5));
    };
    // A dead mount left by a previous client is cleared before the start.
    mounter.addMount(mountPath);
    mounter.healthOf.set(mountPath, "corrupted");
    const err = await assertCodedError(
      () => backend(["sh", "-c", script, "sh"]).ensure(spec),
      Code.UNAVAILABLE,
      /JuiceFS client for "myfs" did not mount at .*\/mnt \(its supervisor exited\): ERROR auth failed for \*\*\*/,
    );
    assert(!err.message.includes(PASSWORD), "message quotes the password");
    assertEquals(mounter.actions, [`umount -l ${mountPath}`]);
    const pid = Number((await Deno.readTextFile(join(dir, "supervisor.pid"))).trim());
    assertEquals(processes.signals, [`SIGTERM ${pid}`], "the failed supervisor is stopped");
    const argv = (await Deno.readTextFile(done)).trim().split("\n");
    assertEquals(argv, [
      "--mode=mount-supervisor",
      `--settings-file=${join(dir, "settings.json")}`,
      `--log-file=${join(dir, "supervisor.log")}`,
      `--fd-socket=${join(dir, "fuse-fd.sock")}`,
    ]);
    assert(!argv.join(" ").includes(PASSWORD), "argv holds the password");
    // The secrets went by a private file instead.
    const settings = join(dir, "settings.json");
    assertEquals((await Deno.stat(settings)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assertEquals(JSON.parse(await Deno.readTextFile(settings)).settings.secretEnv.META_PASSWORD, PASSWORD);
  });
});

Deno.test("process backend: a supervisor that cannot recover its mount is stopped and replaced", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    await writePid(dir, 4242);
    processes.alive.add(4242);
    processes.supervisorOf.set(4242, mountPath);
    mounter.addMount(mountPath);
    mounter.healthOf.set(mountPath, "corrupted");
    await assertCodedError(() => backend(["true"], 0).ensure(spec), Code.UNAVAILABLE, /did not mount/);
    assertEquals(processes.signals[0], "SIGTERM 4242");
    assertEquals(mounter.actions, [`umount -l ${mountPath}`]);
    assert(
      Number(await Deno.readTextFile(join(dir, "supervisor.pid"))) !== 4242,
      "a new supervisor was started",
    );
  });
});

Deno.test("process backend: release stops the supervisor, clears the mount, removes the directory", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    await writePid(dir, 4242);
    await Deno.writeTextFile(join(dir, "settings.json"), "{}");
    processes.alive.add(4242);
    processes.supervisorOf.set(4242, mountPath);
    mounter.addMount(mountPath);
    await backend().release(KEY);
    assertEquals(processes.signals, ["SIGTERM 4242"]);
    assertEquals(mounter.actions, [`umount -l ${mountPath}`]);
    assert(!(await exists(dir)), "client directory (with its settings) removed");
    await backend().release(KEY); // again: nothing left, still fine
    assertEquals(processes.signals, ["SIGTERM 4242"]);
  });
});

Deno.test("process backend: release never signals a pid that is no longer our supervisor", async () => {
  await withState(async ({ backend, processes, dir }) => {
    await writePid(dir, 4242);
    processes.alive.add(4242);
    processes.supervisorOf.set(4242, "/somewhere/else/mnt"); // the pid was reused
    await backend().release(KEY);
    assertEquals(processes.signals, []);
    assert(!(await exists(dir)), "directory removed");
  });
});

// BUG (data loss; lib/clients/process_backend.ts release()): clearMount() logs and swallows
// every unmount failure, then `Deno.remove(this.dir(key), { recursive: true })` runs anyway.
// When the client's mount could not be taken off (umount failing: missing binary, another
// mount namespace, a permission problem), the recursive remove descends into the
// still-mounted file system root at <dir>/mnt and deletes every volume's data in it.
// release() should check mountAt() again after clearMount() and throw instead of removing.
Deno.test({
  name: "process backend: release never deletes through a mount it could not take off",
  fn: () =>
    withState(async ({ backend, mounter, mountPath }) => {
      mounter.addMount(mountPath);
      mounter.unmount = () => Promise.reject(new Error("umount: permission denied"));
      const data = join(mountPath, "pvc-1", "data.txt"); // what the mounted file system holds
      await Deno.mkdir(join(mountPath, "pvc-1"), { recursive: true });
      await Deno.writeTextFile(data, "user data");
      await backend().release(KEY).catch(() => {});
      assert(await exists(data), "release deleted the file system's contents through the mount");
    }),
});

Deno.test("process backend: list() reports client directories that hold a mount", async () => {
  await withState(async ({ backend, mounter, state }) => {
    const b = backend();
    assertEquals(await b.list(), [], "no clients directory yet");
    for (const k of ["a-111", "b-222"]) {
      await Deno.mkdir(join(state, "clients", k, "mnt"), { recursive: true });
    }
    await Deno.writeTextFile(join(state, "clients", "stray-file"), "");
    mounter.addMount(b.mountPathOf("b-222"));
    assertEquals(await b.list(), [{ key: "b-222", mountPath: b.mountPathOf("b-222") }]);
  });
});

Deno.test("process backend: concurrent ensure() calls for one client are serialized", async () => {
  await withState(async ({ backend, mounter, mountPath }) => {
    mounter.addMount(mountPath);
    const b = backend();
    const all = await Promise.all([b.ensure(spec), b.ensure(spec), b.ensure(spec)]);
    assertEquals(all.map((m) => m.mountPath), [mountPath, mountPath, mountPath]);
    assertMatch(all[0]!.key, /^myfs-[0-9a-f]{12}$/);
  });
});

/**
 * Stands in for a supervisor that logs `lines` and stays alive (as lib/supervisor/supervisor.ts
 * keeps retrying a client that cannot mount); with ten minutes to get ready, only what the log
 * says can end the wait early. Checks the supervisor is stopped and returns the error.
 */
async function failedStart(lines: string[], want: RegExp): Promise<void> {
  await withState(async ({ state, processes, dir }) => {
    const script = `for a in "$@"; do case "$a" in --log-file=*) log="\${a#--log-file=}";; esac; done; ` +
      `(${lines.map((l) => `echo "${l}";`).join("")}) >> "$log"; sleep 30`;
    class StaysAlive extends FakeProcesses {
      override isAlive(pid: number): Promise<boolean> {
        return Promise.resolve(!this.signals.includes(`SIGTERM ${pid}`));
      }
    }
    const alive = new StaysAlive();
    const b = new ProcessBackend({
      stateDir: state,
      selfCommand: ["sh", "-c", script, "sh"],
      mounter: new ScriptedMounter(),
      processes: alive,
      readyTimeoutMs: 600_000,
    });
    const err = await assertCodedError(() => b.ensure(spec), Code.UNAVAILABLE, want);
    const pid = Number((await Deno.readTextFile(join(dir, "supervisor.pid"))).trim());
    assertEquals(
      alive.signals,
      [`SIGTERM ${pid}`],
      `the supervisor that cannot mount is stopped (${err.message})`,
    );
    Deno.kill(-pid, "SIGKILL");
    assertEquals(processes.signals, []);
  });
}

Deno.test("process backend: a client that exits before mounting fails the start with juicefs's error, not after the timeout", async () => {
  // juicefs rejects an option: each try is logged, then its exit.
  const tries = [1, 2, 3].flatMap((i) => [
    `2026-11-22 04:20:3${i}.000 +00 [INF] csi-jfs·supervisor: juicefs: ERROR: unknown option bogus-opt`,
    `2026-11-22 04:20:3${i}.100 +00 [WRN] csi-jfs·supervisor: juicefs client 10${i} exited (code 1, signal none) after 90ms; restarting in 500ms`,
  ]);
  await failedStart(
    tries,
    /did not mount at .*\/mnt \(juicefs exited [23] times without mounting\): juicefs: ERROR: unknown option bogus-opt$/,
  );
});

Deno.test("process backend: a client retrying a refused metadata engine fails the start without waiting out the timeout", async () => {
  // juicefs does not exit: it retries the connection and warns (about 40 s in, for redis).
  await failedStart(
    [
      "2026-11-22 04:21:10.000 +00 [INF] csi-jfs·supervisor: juicefs: 2026/11/22 04:21:10 juicefs[9] <WARNING>: parse info: dial tcp 127.0.0.1:1: connect: connection refused [checkServerConfig@redis.go:3667]",
    ],
    /did not mount at .*\/mnt \(juicefs cannot reach its metadata engine\): .*connection refused/,
  );
});

Deno.test("process backend: a client that does not answer (stopped) is reported, neither waited for nor replaced", async () => {
  await withState(async ({ backend, mounter, processes, mountPath, dir }) => {
    await writePid(dir, 4242);
    processes.alive.add(4242);
    processes.supervisorOf.set(4242, mountPath);
    mounter.addMount(mountPath);
    mounter.healthOf.set(mountPath, "hung");
    await assertCodedError(
      () => backend(["true"], 600_000).ensure(spec),
      Code.UNAVAILABLE,
      /the JuiceFS client for "myfs" at .*\/mnt does not answer \(stopped or overloaded\); retry later/,
    );
    assertEquals([processes.signals, mounter.actions], [[], []]);
  });
});

Deno.test("process backend: sweep stops supervisors that never mounted and removes leftovers; live clients stay", async () => {
  await withState(async ({ backend, mounter, processes, state }) => {
    const b = backend();
    const dirOf = (k: string) => join(state, "clients", k);
    // crash-looping: supervisor alive, no mount; leftover: nothing; live: supervisor + mount;
    // dead: a mount that does not answer, no supervisor, no volume; bound: dead, but a volume is bound from it.
    for (
      const [k, pid] of [["loop-1", 501], ["leftover-2", 0], ["live-3", 503], ["dead-4", 0], [
        "bound-5",
        0,
      ]] as const
    ) {
      await writePid(dirOf(k), pid || 999_999);
      if (pid) {
        processes.alive.add(pid);
        processes.supervisorOf.set(pid, b.mountPathOf(k));
      }
    }
    mounter.addMount(b.mountPathOf("live-3"));
    mounter.addMount(b.mountPathOf("dead-4"));
    mounter.healthOf.set(b.mountPathOf("dead-4"), "corrupted");
    const bound = mounter.addMount(b.mountPathOf("bound-5"));
    mounter.healthOf.set(b.mountPathOf("bound-5"), "corrupted");
    mounter.addMount("/var/lib/kubelet/staging/pvc-5", "fuse.juicefs", bound.device);
    assertEquals(await b.sweep(), [
      "dead-4: dead mount without supervisor removed",
      "leftover-2: leftover directory removed",
      "loop-1: supervisor 501 never mounted; stopped and removed",
    ]);
    assertEquals(processes.signals, ["SIGTERM 501"]);
    const left = [];
    for await (const e of Deno.readDir(join(state, "clients"))) left.push(e.name);
    assertEquals(left.sort(), ["bound-5", "live-3"]);
    assertEquals(await b.sweep(), [], "a second sweep finds nothing to do");
  });
});

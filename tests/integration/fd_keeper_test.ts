// The node plugin's FUSE fd keeper with the real program and the real juicefs: a Mount Pod lost
// whole (its supervisor and every juicefs process SIGKILLed) leaves the kernel connection alive
// in the keeper, so a bind of the mount (what an app pod sees) hangs instead of failing, and a
// new supervisor resumes it. Also: a keeper restart interrupts nothing and the new keeper
// regains the fd; a release unmounts; and (issue 11 item 14) a supervisor whose client is
// already dead stops within a bound instead of hanging in umount.
//
// The keeper runs as its own process (fd_keeper_child.ts) so it can be SIGKILLed like a node
// plugin pod; supervisors are `bin/csi-jfs --mode=mount-supervisor`. Every access to the mount
// goes through a subprocess with a deadline: while no juicefs serves the connection, requests
// block instead of failing. Needs root, /dev/fuse and the pinned juicefs; ignored otherwise.
import nodeAssert from "node:assert/strict";
import { join } from "node:path";
import { CACHE, JUICEFS, ROOT } from "../support/driver.ts";
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { writeSettingsFile } from "../../lib/supervisor/settings_file.ts";
import { settingsFromSecrets } from "../../lib/juicefs/settings.ts";
import { juicefsPids, kill, mustRun, type Run, run } from "../support/processes.ts";
import { eventually } from "../support/eventually.ts";

function ignoreReason(): string | null {
  try {
    if (Deno.uid() !== 0) return "needs root";
    Deno.statSync("/dev/fuse");
    Deno.statSync(JUICEFS);
  } catch (e) {
    return String(e);
  }
  return null;
}
const ignore = ignoreReason();
if (ignore !== null) console.warn(`fd_keeper_test ignored: ${ignore}`);

const DENO = Deno.env.get("DENO") ?? `${CACHE}/bin/deno`;
const KEY = "fs-k1";

function mounts() {
  return parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"));
}

function mountAt(path: string) {
  return mounts().findLast((m) => m.mountPoint === path);
}

/** Resolves with the exit code, or null if the process is still running after `ms`. */
async function exitWithin(p: Deno.ChildProcess, ms: number): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.status.then((s) => s.code),
    new Promise<null>((res) => (timer = setTimeout(() => res(null), ms))),
  ]);
  clearTimeout(timer);
  return r;
}

/** One file system, its keeper directory, a keeper process and supervisors. */
class Rig {
  readonly meta: string;
  readonly mnt: string;
  readonly target: string;
  readonly keeperRoot: string;
  readonly keeperSock: string;
  readonly releaseFile: string;
  readonly status: string;
  keeper: Deno.ChildProcess | null = null;
  readonly supervisors: Deno.ChildProcess[] = [];
  #n = 0;

  private constructor(readonly dir: string) {
    this.meta = `sqlite3://${dir}/meta.db`;
    this.mnt = `${dir}/clients/${KEY}/mnt`;
    this.target = `${dir}/target`;
    this.keeperRoot = `${dir}/keeper`;
    this.keeperSock = `${this.keeperRoot}/${KEY}/fd-keeper.sock`;
    this.releaseFile = `${this.keeperRoot}/${KEY}/release`;
    this.status = `${dir}/keeper-status.json`;
  }

  static async create(): Promise<Rig> {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csi-jfs-fdkeeper-" }));
    const rig = new Rig(dir);
    await Deno.mkdir(rig.target);
    await Deno.mkdir(`${rig.keeperRoot}/${KEY}`, { recursive: true, mode: 0o700 });
    await mustRun(JUICEFS, ["format", rig.meta, "vol", "--storage", "file", "--bucket", `${dir}/bucket/`]);
    return rig;
  }

  async startKeeper(): Promise<void> {
    const log = `${this.dir}/keeper.log`;
    const cmd = `exec "$0" run --quiet -A "$1" "$2" "$3" 2>>"$4"`;
    const script = join(ROOT, "tests/integration/fd_keeper_child.ts");
    await Deno.remove(this.status).catch(() => {});
    this.keeper = new Deno.Command("bash", {
      args: ["-c", cmd, DENO, script, this.keeperRoot, this.status, log],
      stdin: "null",
      stdout: "null",
    }).spawn();
    const pid = this.keeper.pid;
    await eventually("the keeper listening", 20_000, () => this.keeperState()?.pid === pid || undefined);
  }

  /** The keeper's last status, or null when the current keeper has not written one. */
  keeperState(): { pid: number; holds: Record<string, boolean> } | null {
    try {
      const s = JSON.parse(Deno.readTextFileSync(this.status));
      return s.pid === this.keeper?.pid ? s : null;
    } catch {
      return null;
    }
  }

  keeperHolds(): boolean {
    return this.keeperState()?.holds[KEY] === true;
  }

  async killKeeper(): Promise<void> {
    const k = this.keeper;
    if (!k) return;
    k.kill("SIGKILL");
    await k.status;
    this.keeper = null;
  }

  async startSupervisor(opts: { keeper: boolean }): Promise<Deno.ChildProcess> {
    const n = ++this.#n;
    const settingsFile = `${this.dir}/settings-${n}.json`;
    await writeSettingsFile(settingsFile, {
      settings: settingsFromSecrets({ name: "vol", metaurl: this.meta }),
      mountFlags: ["--cache-dir", `${this.dir}/cache`],
      mountPoint: this.mnt,
    });
    const args = [
      "--mode=mount-supervisor",
      `--settings-file=${settingsFile}`,
      `--fd-socket=${this.dir}/clients/${KEY}/fuse-fd.sock`,
      `--juicefs=${JUICEFS}`,
      "--log-level=debug",
      ...(opts.keeper ? [`--fd-keeper=${this.keeperSock}`, "--keep-mount-on-term"] : []),
    ];
    // stderr rather than --log-file: the file sink flushes late, and these processes get SIGKILLed.
    const cmd = `exec "$0" "$@" 2>>"${this.dir}/supervisor.log"`;
    const p = new Deno.Command("bash", {
      args: ["-c", cmd, join(ROOT, "bin/csi-jfs"), ...args],
      stdin: "null",
      stdout: "null",
    })
      .spawn();
    this.supervisors.push(p);
    return p;
  }

  async waitMounted(): Promise<void> {
    await eventually("the mount", 30_000, () => mountAt(this.mnt)?.fsType === "fuse.juicefs" || undefined);
    await eventually(
      "the mount answering",
      20_000,
      async () => (await run("stat", [this.mnt], 3_000)).code === 0 || undefined,
    );
  }

  /** SIGKILL of the supervisor and every juicefs process: a Mount Pod deleted with --force. */
  async killPod(sup: Deno.ChildProcess): Promise<void> {
    sup.kill("SIGKILL");
    await sup.status;
    for (const pid of juicefsPids(this.mnt)) kill(pid, "SIGKILL");
    await eventually(
      "every juicefs process gone",
      10_000,
      () => juicefsPids(this.mnt).length === 0 || undefined,
    );
  }

  async bindTarget(): Promise<void> {
    await mustRun("mkdir", ["-p", `${this.mnt}/vol1`], 10_000);
    await mustRun("mount", ["--bind", `${this.mnt}/vol1`, this.target], 10_000);
  }

  /** Leaves nothing: every holder dies first, so no unmount can wait on an unserved connection. */
  async cleanup(ok: boolean): Promise<void> {
    await this.killKeeper();
    for (const s of this.supervisors) {
      kill(s.pid, "SIGCONT");
      kill(s.pid, "SIGKILL");
      await s.status;
    }
    for (const pid of juicefsPids(this.mnt)) kill(pid, "SIGKILL");
    await eventually("juicefs gone", 10_000, () => juicefsPids(this.mnt).length === 0 || undefined).catch(
      () => {},
    );
    for (const m of mounts().filter((m) => m.mountPoint.startsWith(`${this.dir}/`)).reverse()) {
      await run("umount", ["-l", m.mountPoint], 10_000);
    }
    if (!ok || Deno.env.get("FD_KEEPER_TEST_LOGS")) {
      for (const f of ["supervisor.log", "keeper.log"]) {
        console.error(`--- ${f}\n${await Deno.readTextFile(`${this.dir}/${f}`).catch(String)}`);
      }
    }
    if (mounts().some((m) => m.mountPoint.startsWith(`${this.dir}/`))) {
      console.error(`leaving ${this.dir}: something is still mounted under it`);
    } else {
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}

/** Runs a case with a fresh rig, cleaning up whatever happens. */
function rigTest(name: string, fn: (rig: Rig) => Promise<void>): void {
  Deno.test({
    name,
    ignore: ignore !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const rig = await Rig.create();
      let ok = false;
      try {
        await fn(rig);
        ok = true;
      } finally {
        await rig.cleanup(ok);
      }
    },
  });
}

async function readThrough(path: string, timeoutMs: number): Promise<Run> {
  return await run("cat", [path], timeoutMs);
}

rigTest(
  "a Mount Pod killed whole: the keeper keeps the mount alive and a new supervisor resumes it",
  async (rig) => {
    await rig.startKeeper();
    const sup1 = await rig.startSupervisor({ keeper: true });
    await rig.waitMounted();
    await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
    await rig.bindTarget();
    const bound = mountAt(rig.target);
    await mustRun("sh", ["-c", 'printf before >"$1/old.txt"', "sh", rig.target], 10_000);

    const killedAt = Date.now();
    await rig.killPod(sup1);
    nodeAssert.ok(rig.keeperHolds(), "the keeper must still hold the FUSE fd");
    nodeAssert.deepEqual(mountAt(rig.target), bound, "the pod target is still a mount");
    // Served by nobody, the target hangs (or answers from the kernel's cache); never ENOTCONN.
    const probe = await run("stat", [rig.target], 1_500);
    nodeAssert.ok(
      probe.code === null || probe.code === 0,
      `the target failed while no client ran: ${probe.out}`,
    );

    await rig.startSupervisor({ keeper: true });
    const content = await eventually("the old file through the target", 30_000, async () => {
      const r = await readThrough(`${rig.target}/old.txt`, 2_000);
      return r.code === 0 ? r.out : undefined;
    });
    const outage = Date.now() - killedAt;
    nodeAssert.equal(content, "before");
    await mustRun("sh", ["-c", 'printf after >"$1/new.txt"', "sh", rig.target], 5_000);
    nodeAssert.equal(await mustRun("cat", [`${rig.mnt}/vol1/new.txt`], 5_000), "after");
    nodeAssert.deepEqual(mountAt(rig.target), bound, "the target was not remounted");
    nodeAssert.equal(
      mounts().filter((m) => m.mountPoint === rig.mnt).length,
      1,
      "no mount stacked on the old one",
    );
    console.log(
      `pod loss: the target read again ${outage} ms after the kill (including the new supervisor's start)`,
    );
  },
);

rigTest(
  "SIGTERM with no release file: juicefs ends without unmounting and the next supervisor resumes",
  async (rig) => {
    await rig.startKeeper();
    const sup1 = await rig.startSupervisor({ keeper: true });
    await rig.waitMounted();
    await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
    await rig.bindTarget();
    const bound = mountAt(rig.target);
    // juicefs's SIGHUP exit flushes whatever it still buffers before it goes.
    await mustRun("sh", ["-c", 'printf unsynced >"$1/w.txt"', "sh", rig.target], 10_000);

    const termAt = Date.now();
    sup1.kill("SIGTERM");
    nodeAssert.equal(await exitWithin(sup1, 30_000), 0, "the supervisor exits 0");
    console.log(`keep-mount-on-term: the supervisor exited ${Date.now() - termAt} ms after SIGTERM`);
    nodeAssert.deepEqual(juicefsPids(rig.mnt), [], "juicefs ended");
    nodeAssert.deepEqual(mountAt(rig.target), bound, "the target is still mounted");
    nodeAssert.ok(mountAt(rig.mnt) !== undefined, "the mount point is still mounted");
    nodeAssert.ok(rig.keeperHolds(), "the keeper holds the connection");
    const log = await Deno.readTextFile(`${rig.dir}/supervisor.log`);
    nodeAssert.match(log, /leaving \S+ mounted: the fd keeper holds its FUSE connection/);

    await rig.startSupervisor({ keeper: true });
    const content = await eventually("the file through the target", 30_000, async () => {
      const r = await readThrough(`${rig.target}/w.txt`, 2_000);
      return r.code === 0 ? r.out : undefined;
    });
    nodeAssert.equal(content, "unsynced");
    await mustRun("sh", ["-c", 'printf after >"$1/x.txt"', "sh", rig.target], 5_000);
    nodeAssert.equal(
      mounts().filter((m) => m.mountPoint === rig.mnt).length,
      1,
      "no mount stacked on the old one",
    );
    console.log(`keep-mount-on-term: the target read again ${Date.now() - termAt} ms after SIGTERM`);
  },
);

rigTest(
  "a keeper restart interrupts no read, and the new keeper regains the fd for a pod loss",
  async (rig) => {
    await rig.startKeeper();
    const sup1 = await rig.startSupervisor({ keeper: true });
    await rig.waitMounted();
    await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
    await rig.bindTarget();
    await mustRun("sh", ["-c", 'printf data >"$1/f.txt"', "sh", rig.target], 10_000);

    // An app pod reading in a loop through its target while the node plugin restarts.
    const stop = `${rig.dir}/stop-reading`;
    const loop = 'ok=0; fail=0; while [ ! -e "$1" ]; do if cat "$2" >/dev/null 2>&1; then ok=$((ok+1)); ' +
      'else fail=$((fail+1)); fi; done; echo "$ok $fail"';
    const reader = run("bash", ["-c", loop, "reader", stop, `${rig.target}/f.txt`], 40_000);
    await new Promise((r) => setTimeout(r, 500));
    const oldKeeper = rig.keeper?.pid;
    await rig.killKeeper(); // SIGKILL: its socket file stays behind, stale
    await new Promise((r) => setTimeout(r, 1_000));
    await rig.startKeeper();
    nodeAssert.notEqual(rig.keeper?.pid, oldKeeper);
    await eventually("the new keeper holding the FUSE fd", 15_000, () => rig.keeperHolds() || undefined);
    await new Promise((r) => setTimeout(r, 500));
    await Deno.writeTextFile(stop, "");
    const { code, out } = await reader;
    nodeAssert.equal(code, 0, `the reader loop ended: ${out}`);
    const [ok = 0, failed = -1] = out.trim().split(" ").map(Number);
    console.log(`keeper restart: ${ok} reads through the target, ${failed} failed`);
    nodeAssert.equal(failed, 0, "no read failed while the keeper restarted");
    nodeAssert.ok(ok > 0, "the reader read");

    // The new keeper alone now carries the connection through a pod loss.
    const killedAt = Date.now();
    await rig.killPod(sup1);
    nodeAssert.ok(rig.keeperHolds(), "the new keeper still holds the FUSE fd");
    await rig.startSupervisor({ keeper: true });
    const content = await eventually("the file through the target", 30_000, async () => {
      const r = await readThrough(`${rig.target}/f.txt`, 2_000);
      return r.code === 0 ? r.out : undefined;
    });
    nodeAssert.equal(content, "data");
    await mustRun("sh", ["-c", 'printf more >"$1/g.txt"', "sh", rig.target], 5_000);
    console.log(
      `pod loss after a keeper restart: the target read again ${Date.now() - killedAt} ms after the kill`,
    );
  },
);

rigTest("ten pod losses in a row: every fsynced file reads back through the same target", async (rig) => {
  const rounds = 10;
  await rig.startKeeper();
  let sup = await rig.startSupervisor({ keeper: true });
  await rig.waitMounted();
  await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
  await rig.bindTarget();
  const bound = mountAt(rig.target);
  const outages: number[] = [];
  const failed: string[] = []; // reads that failed (ENOTCONN) rather than waited
  for (let i = 0; i < rounds; i++) {
    await mustRun("sh", [
      "-c",
      'printf "round $2" >"$1/r$2.txt" && sync "$1/r$2.txt"',
      "sh",
      rig.target,
      `${i}`,
    ]);
    await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
    const killedAt = Date.now();
    await rig.killPod(sup);
    sup = await rig.startSupervisor({ keeper: true });
    await eventually(`round ${i}: the target answering`, 30_000, async () => {
      const r = await readThrough(`${rig.target}/r${i}.txt`, 2_000);
      if (r.code !== null && r.code !== 0) failed.push(`round ${i}: ${r.out.trim()}`);
      return r.code === 0 || undefined;
    });
    outages.push(Date.now() - killedAt);
  }
  nodeAssert.deepEqual(failed, [], "no read failed while a pod was gone");
  for (let i = 0; i < rounds; i++) {
    nodeAssert.equal(await mustRun("cat", [`${rig.target}/r${i}.txt`], 5_000), `round ${i}`);
  }
  nodeAssert.deepEqual(mountAt(rig.target), bound, "the target was never remounted");
  nodeAssert.equal(mounts().filter((m) => m.mountPoint === rig.mnt).length, 1, "no mount stacked");
  const sorted = [...outages].sort((a, b) => a - b);
  console.log(
    `${rounds} pod losses: outage min ${sorted[0]} ms, median ${sorted[rounds >> 1]} ms, max ${
      sorted.at(-1)
    } ms`,
  );
});

rigTest(
  "a release (release file present): SIGTERM unmounts and leaves nothing, and the keeper lets go",
  async (rig) => {
    await rig.startKeeper();
    const sup = await rig.startSupervisor({ keeper: true });
    await rig.waitMounted();
    await eventually("the keeper holding the FUSE fd", 10_000, () => rig.keeperHolds() || undefined);
    await Deno.writeTextFile(rig.releaseFile, "");
    sup.kill("SIGTERM");
    nodeAssert.equal(await exitWithin(sup, 30_000), 0, "the supervisor exits 0 within 30 s");
    nodeAssert.equal(mountAt(rig.mnt), undefined, "unmounted");
    nodeAssert.deepEqual(juicefsPids(rig.mnt), [], "no juicefs left");
    await eventually("the keeper dropping the dead connection", 5_000, () => !rig.keeperHolds() || undefined);
  },
);

// Issue 11 item 14: the client dies while the supervisor cannot restart it, then SIGTERM. The
// supervisor's own holder keeps the connection open, so a plain umount would wait forever.
rigTest("a supervisor whose juicefs is dead stops within a bound and leaves no mount", async (rig) => {
  const sup = await rig.startSupervisor({ keeper: false });
  await rig.waitMounted();
  sup.kill("SIGSTOP");
  for (const pid of juicefsPids(rig.mnt)) kill(pid, "SIGKILL");
  await eventually(
    "every juicefs process gone",
    10_000,
    () => juicefsPids(rig.mnt).length === 0 || undefined,
  );
  sup.kill("SIGTERM");
  const t0 = Date.now();
  sup.kill("SIGCONT");
  const code = await exitWithin(sup, 40_000);
  nodeAssert.equal(code, 0, "the supervisor exits 0 within 40 s");
  nodeAssert.equal(mountAt(rig.mnt), undefined, "unmounted");
  nodeAssert.deepEqual(juicefsPids(rig.mnt), [], "no juicefs left");
  const log = await Deno.readTextFile(`${rig.dir}/supervisor.log`);
  console.log(`dead client: the supervisor stopped ${Date.now() - t0} ms after SIGTERM`);
  nodeAssert.match(log, /aborted the FUSE connection/, "the stop went through the abort, not a restart");
});

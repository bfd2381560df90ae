// The point of the FUSE fd holder, end to end with the real juicefs client: after `kill -9` of
// every juicefs process of a mount, a `juicefs mount` restarted with JFS_SUPER_COMM pointing
// at the holder picks the held /dev/fuse fd up, and the existing mount point and its bind
// mount (what a pod sees) work again without being remounted.
//
// Needs root, /dev/fuse and the pinned juicefs (`hack/install-tools.sh juicefs`); the test is
// ignored otherwise. Every access to the mount goes through a subprocess with a deadline,
// because while no juicefs serves the held connection, requests block instead of failing.
import nodeAssert from "node:assert/strict";
import { type FuseFdHolder, startFuseFdHolder } from "../../lib/supervisor/fuse_fd_holder.ts";
import { juicefsPids, mustRun, run } from "../support/processes.ts";
import { eventually } from "../support/eventually.ts";

const CACHE = Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs";
const JUICEFS = `${CACHE}/bin/juicefs`;

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
if (ignore !== null) console.warn(`fuse_recovery_test ignored: ${ignore}`);

interface MountEntry {
  id: string;
  dev: string;
  root: string;
  mountPoint: string;
  fsType: string;
}

function mountinfo(): MountEntry[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) => l).map((line) => {
    const [pre = "", post = ""] = line.split(" - ");
    const f = pre.split(" ");
    return {
      id: f[0] ?? "",
      dev: f[2] ?? "",
      root: unescape(f[3] ?? ""),
      mountPoint: unescape(f[4] ?? ""),
      fsType: post.split(" ")[0] ?? "",
    };
  });
}

function mountAt(path: string): MountEntry | undefined {
  return mountinfo().findLast((m) => m.mountPoint === path);
}

/** Starts `juicefs mount` in the foreground (its own supervisor + child), logging to a file. */
function startMount(meta: string, mnt: string, dir: string, sock: string): Deno.ChildProcess {
  const args = [
    "-c",
    'exec "$@" >>"$JFS_TEST_LOG" 2>&1',
    "sh",
    JUICEFS,
    "mount",
    meta,
    mnt,
    "--no-usage-report",
    "--cache-dir",
    `${dir}/cache`,
  ];
  return new Deno.Command("sh", {
    args,
    env: { JFS_SUPER_COMM: sock, JFS_TEST_LOG: `${dir}/juicefs.log` },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test({
  name: "juicefs restarted after kill -9 of all its processes resumes the held FUSE connection",
  ignore: ignore !== null,
  fn: async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csi-jfs-fuse-recovery-" }));
    const meta = `sqlite3://${dir}/meta.db`;
    const mnt = `${dir}/mnt`;
    const target = `${dir}/target`;
    const sock = `${dir}/run/fd.sock`;
    const logLines: string[] = [];
    const log = (m: string) => logLines.push(`${new Date().toISOString()} ${m}`);
    const mounts: Deno.ChildProcess[] = [];
    let holder: FuseFdHolder | null = null;
    let ok = false;
    try {
      await Deno.mkdir(mnt);
      await Deno.mkdir(target);
      await mustRun(JUICEFS, ["format", meta, "vol", "--storage", "file", "--bucket", `${dir}/bucket/`]);
      holder = await startFuseFdHolder(sock, { log });

      mounts.push(startMount(meta, mnt, dir, sock));
      await eventually("the first mount", 20_000, () => mountAt(mnt)?.fsType === "fuse.juicefs" || undefined);
      await eventually("the FUSE fd handed over to the holder", 10_000, () => holder?.holdsFd() || undefined);

      const mounted = mountAt(mnt);
      await mustRun("mkdir", [`${mnt}/sub`], 10_000);
      await mustRun("mount", ["--bind", `${mnt}/sub`, target], 10_000);
      const bound = mountAt(target);
      nodeAssert.ok(bound !== undefined && bound.fsType === "fuse.juicefs" && bound.root === "/sub");
      await mustRun("sh", ["-c", 'printf before >"$1/old.txt"', "sh", target], 10_000);

      const pids = juicefsPids(mnt);
      nodeAssert.ok(pids.length >= 2, `expected the juicefs supervisor and its child, got ${pids}`);
      for (const pid of pids) Deno.kill(pid, "SIGKILL");
      await eventually(
        "every juicefs process gone",
        10_000,
        () => juicefsPids(mnt).length === 0 || undefined,
      );
      nodeAssert.ok(holder.holdsFd(), "the holder must still hold the FUSE fd");
      nodeAssert.deepEqual(mountAt(target), bound, "the bind mount is still there");

      const logsBeforeRestart = logLines.length;
      mounts.push(startMount(meta, mnt, dir, sock));
      const t0 = Date.now();
      const content = await eventually("the old file readable through the bind mount", 10_000, async () => {
        const r = await run("cat", [`${target}/old.txt`], 2_000);
        return r.code === 0 ? r.out : undefined;
      });
      nodeAssert.equal(content, "before");
      await mustRun("sh", ["-c", 'printf after >"$1/new.txt"', "sh", target], 5_000);
      nodeAssert.equal(await mustRun("cat", [`${mnt}/sub/new.txt`], 5_000), "after");
      nodeAssert.deepEqual(mountAt(target), bound, "the bind mount was not remounted");
      nodeAssert.deepEqual(
        mountinfo().filter((m) => m.mountPoint === mnt),
        [mounted],
        "juicefs served the held connection instead of mounting anew on top",
      );
      nodeAssert.ok(
        logLines.slice(logsBeforeRestart).some((l) => l.includes("sent FUSE fd")),
        "the restarted client fetched the held fd",
      );
      await eventually("the new client's fd handed over", 10_000, () => holder?.holdsFd() || undefined);
      console.log(`recovered in ${Date.now() - t0} ms`);
      ok = true;
    } finally {
      // Unmount while a client may still be serving; lazily only as the last resort.
      for (const mp of [target, mnt]) {
        if (mountAt(mp) === undefined) continue;
        const r = await run("umount", [mp], 20_000);
        if (r.code !== 0) {
          log(`umount ${mp}: ${r.code ?? "timeout"} ${r.out}; lazy umount`);
          await run("umount", ["-l", mp], 20_000);
        }
      }
      for (const pid of juicefsPids(mnt)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      for (const m of mounts) {
        try {
          m.kill("SIGKILL");
        } catch { /* exited */ }
        await m.status;
      }
      await holder?.close();
      if (!ok) {
        console.error(`--- holder log\n${logLines.join("\n")}`);
        console.error(`--- juicefs log\n${await Deno.readTextFile(`${dir}/juicefs.log`).catch(String)}`);
      }
      if (mountinfo().some((m) => m.mountPoint.startsWith(`${dir}/`))) {
        console.error(`leaving ${dir}: something is still mounted under it`);
      } else {
        await Deno.remove(dir, { recursive: true });
      }
    }
    nodeAssert.ok(holder !== null && !holder.holdsFd());
    await nodeAssert.rejects(Deno.lstat(sock));
  },
});

// What the webhook injects, run for real: `bin/csi-jfs --mode=mount-supervisor` with the env an
// injected sidecar gets (settings as from its Secret, the volume binds), on a real JuiceFS
// (sqlite3 + a local directory). The startup probe the webhook writes fails until every bind is
// a live JuiceFS mount of the right directory, then passes; a read-only bind refuses writes;
// SIGTERM removes the binds and the mount and exits 0. Needs root, /dev/fuse and juicefs.
import { join } from "node:path";
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { settingsFromSecrets } from "../../lib/juicefs/settings.ts";
import { probeScript } from "../../lib/webhook/mutate.ts";
import { JUICEFS, ROOT } from "../support/driver.ts";

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
if (ignore !== null) console.warn(`webhook_sidecar_test ignored: ${ignore}`);

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + ms;
  for (let attempts = 1;; attempts++) {
    if (await probe().catch(() => false)) return attempts;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${attempts} attempts`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const mountsUnder = (dir: string) =>
  parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo")).filter((m) => m.mountPoint.startsWith(dir));

Deno.test({
  name: "sidecar: binds come up behind the startup probe, read-only stays read-only, SIGTERM cleans up",
  ignore: ignore !== null,
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "csi-jfs-sidecar-" }));
    const meta = `sqlite3://${dir}/meta.db`;
    const f = await run(JUICEFS, ["format", meta, "vol", "--storage", "file", "--bucket", `${dir}/bucket/`]);
    assertEquals(f.code, 0, f.out);
    const binds = [
      { subdir: "", target: `${dir}/jfs/root`, readOnly: false },
      { subdir: "pvc-a", target: `${dir}/jfs/a`, readOnly: false },
      { subdir: "pvc-a", target: `${dir}/jfs/a-ro`, readOnly: true },
    ];
    for (const b of binds) await Deno.mkdir(b.target, { recursive: true });
    const settings = {
      settings: settingsFromSecrets({ name: "vol", metaurl: meta }),
      mountFlags: [],
      mountPoint: `${dir}/fs`,
    };
    const probe = async () => (await run("/bin/sh", ["-c", probeScript(binds)])).code === 0;
    assertEquals(await probe(), false, "the probe fails before anything is mounted");
    const child = new Deno.Command(join(ROOT, "bin/csi-jfs"), {
      args: ["--mode=mount-supervisor", `--juicefs=${JUICEFS}`, `--log-file=${dir}/supervisor.log`],
      env: {
        CSI_JFS_SUPERVISOR_SETTINGS: JSON.stringify(settings),
        CSI_JFS_VOLUME_BINDS: JSON.stringify(binds),
      },
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    try {
      // pvc-a does not exist yet: the root bind comes up, the probe keeps failing.
      await until("the root bind", 60_000, async () => (await Deno.stat(`${dir}/jfs/root`)).ino === 1);
      assertEquals(await probe(), false, "the probe waits for every bind");
      await Deno.mkdir(`${dir}/jfs/root/pvc-a`);
      const attempts = await until("the startup probe", 60_000, probe);
      console.log(`startup probe passed after ${attempts} attempts once pvc-a existed`);
      await Deno.writeTextFile(`${dir}/jfs/a/hello`, "from the app");
      assertEquals(await Deno.readTextFile(`${dir}/jfs/root/pvc-a/hello`), "from the app");
      assertEquals(await Deno.readTextFile(`${dir}/jfs/a-ro/hello`), "from the app");
      let refused = "";
      await Deno.writeTextFile(`${dir}/jfs/a-ro/nope`, "x").catch((e) => (refused = String(e)));
      assert(/read-only/i.test(refused), `a read-only bind refuses writes: ${refused}`);
    } finally {
      child.kill("SIGTERM");
    }
    const status = await child.status;
    assertEquals(status.code, 0, "SIGTERM: unmounted and exit 0");
    assertEquals(mountsUnder(dir).map((m) => m.mountPoint), [], "no bind and no mount left");
    await Deno.remove(dir, { recursive: true });
  },
});

// Issue 10 item 4 on real JuiceFS, by racing: a tenant who can write the file system keeps
// swapping the source volume's directory with a link to a host directory while CreateSnapshot
// opens and clones it, and the new volume's directory while a restore moves its clone into
// place, sets the quota and the mode. However the race falls: a snapshot made holds the
// volume's own files (never the host's), a refused call leaves no snapshot or volume behind
// and goes through once undisturbed, and the host directory never changes. Hundreds of
// attempts; the attempts, swaps and outcomes are printed.
import { dirname } from "node:path";
import { AT_FDCWD, RENAME_EXCHANGE, renameat2 } from "../../lib/fs/libc_fs.ts";
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, type Driver, mountCap, startDriver } from "../support/driver.ts";
import { fsRoot } from "../hostile/support.ts";
import { codeOf, startRacer } from "./race_support.ts";

const SNAPSHOTS = Number(Deno.env.get("RACE_SNAPSHOTS") ?? 200);
const RESTORES = Number(Deno.env.get("RACE_RESTORES") ?? 100);

async function hostDir(d: Driver) {
  const dir = `${dirname(d.dir)}/csi-jfs-race-host-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/data.txt`, "host");
  await Deno.chmod(dir, 0o750);
  const state = async () =>
    await Promise.all(["", "/data.txt"].map(async (p) => {
      const st = await Deno.lstat(`${dir}${p}`).catch(() => undefined);
      return `${p || "/"} ${st ? (st.mode! & 0o7777).toString(8) : "gone"} ${
        st?.ino ?? ""
      } ${st?.mtime?.getTime()}`;
    }));
  const before = await state();
  return {
    dir,
    check: async (what: string) => assertEquals(await state(), before, `the host directory changed: ${what}`),
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

const tally = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const show = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ${n}`).join(", ");

/** Undoes a swap left in place: the directory back at its name, the link beside it. */
async function unswap(path: string): Promise<void> {
  if ((await Deno.lstat(path)).isSymlink) renameat2(AT_FDCWD, path, AT_FDCWD, `${path}.lnk`, RENAME_EXCHANGE);
}

Deno.test({
  name: "race: CreateSnapshot and restores against a tenant swapping directories with links to the host",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    const host = await hostDir(d);
    const racer = startRacer();
    const create = (name: string, source?: Record<string, unknown>) =>
      call<{ volume: { volume_id: string } }>(d.controller, "CreateVolume", {
        name,
        capacity_range: { required_bytes: String(1 << 30) },
        volume_capabilities: [mountCap()],
        secrets: d.secrets,
        ...(source ? { volume_content_source: source } : {}),
      });
    const snap = (name: string, source: string) =>
      call<{ snapshot: { snapshot_id: string } }>(d.controller, "CreateSnapshot", {
        name,
        source_volume_id: source,
        secrets: d.secrets,
      });
    try {
      const { volume } = await create("rs");
      const root = await fsRoot(d);
      await Deno.writeTextFile(`${root}/rs/data.txt`, "volume");
      await Deno.symlink(host.dir, `${root}/rs.lnk`);

      const outcomes = new Map<string, number>();
      let swaps = 0;
      let snapshotId = "";
      for (let i = 0; i < SNAPSHOTS; i++) {
        await racer.swap(`${root}/rs`, `${root}/rs.lnk`);
        const code = await codeOf(snap(`s-${i}`, volume.volume_id));
        swaps += await racer.pause();
        tally(outcomes, code);
        assert(["OK", "FAILED_PRECONDITION"].includes(code), `attempt ${i}: ${code}`);
        const tree = `${root}/.csi-jfs/snapshots/s-${i}.tree`;
        if (code === "OK") {
          assertEquals(
            await Deno.readTextFile(`${tree}/data.txt`),
            "volume",
            `attempt ${i}: the snapshot's bytes`,
          );
        } else {
          assert(
            !(await Deno.lstat(tree).catch(() => undefined)),
            `attempt ${i}: a refused snapshot left a tree`,
          );
        }
        await host.check(`snapshot attempt ${i} (${code})`);
        await unswap(`${root}/rs`);
        if (code !== "OK") assertEquals(await codeOf(snap(`s-${i}`, volume.volume_id)), "OK", `retry ${i}`);
        snapshotId = `jfs1s/itfs/s-${i}`;
      }
      console.log(`CreateSnapshot race: ${SNAPSHOTS} attempts, ${swaps} swaps; outcomes: ${show(outcomes)}`);

      const restores = new Map<string, number>();
      swaps = 0;
      for (let i = 0; i < RESTORES; i++) {
        const name = `rr-${i}`;
        await Deno.symlink(host.dir, `${root}/${name}.lnk`);
        await racer.swap(`${root}/${name}`, `${root}/${name}.lnk`);
        const code = await codeOf(create(name, { snapshot: { snapshot_id: snapshotId } }));
        swaps += await racer.pause();
        tally(restores, code);
        assert(["OK", "FAILED_PRECONDITION", "ALREADY_EXISTS"].includes(code), `restore ${i}: ${code}`);
        await host.check(`restore attempt ${i} (${code})`);
        const st = await Deno.lstat(`${root}/${name}`).catch(() => undefined);
        if (st?.isSymlink) await unswap(`${root}/${name}`);
        // Only a directory the driver cloned is ever at the name: it holds the snapshot's bytes.
        if (await Deno.lstat(`${root}/${name}`).catch(() => undefined)) {
          assertEquals(await Deno.readTextFile(`${root}/${name}/data.txt`), "volume", `restore ${i}`);
        }
      }
      console.log(`restore race: ${RESTORES} attempts, ${swaps} swaps; outcomes: ${show(restores)}`);
      assert((outcomes.get("OK") ?? 0) + (restores.get("OK") ?? 0) > 0, "some calls succeed");
      assertEquals(
        (await Array.fromAsync(Deno.readDir(`${root}/.csi-jfs/tmp`))).length,
        0,
        "no clone half made",
      );
    } finally {
      await racer.stop();
      await d.stop();
      await host.cleanup();
    }
  },
});

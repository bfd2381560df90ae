// Snapshots, restores and clones on real JuiceFS (issue 10): a volume of SNAPSHOT_FILES files
// (SNAPSHOT_MIB MiB in all) is snapshotted, changed, restored to a new volume and cloned; the
// checksums say the restore has the old bytes, the volume and its clone the new ones; deleting
// the source volume and the snapshot (trash-days=0: really gone) leaves the restore intact.
// The snapshot's time is printed next to `cp -a` of the same tree (a figure, not an assertion).
// The numbers are 10,000 files and 1 GiB (SNAPSHOT_MIB=1024): that run took 3 min 8 s
// here (2 cores, shared), mostly checksumming 1 GiB six times, so the default is 256 MiB.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, mountCap, sh, startDriver } from "../support/driver.ts";
import { fsRoot } from "../hostile/support.ts";

const FILES = Number(Deno.env.get("SNAPSHOT_FILES") ?? 10_000);
const MIB = Number(Deno.env.get("SNAPSHOT_MIB") ?? 256);
const GiB = 1024 ** 3;

/** Writes FILES files of MIB/FILES MiB each (distinct contents) in 100 directories. */
async function fill(dir: string): Promise<void> {
  const size = Math.max(1, Math.floor((MIB * 1024 * 1024) / FILES));
  const pool = new Uint8Array(size + 4096);
  for (let o = 0; o < pool.length; o += 65536) {
    crypto.getRandomValues(pool.subarray(o, Math.min(o + 65536, pool.length)));
  }
  const dirs = Math.min(100, FILES);
  for (let d = 0; d < dirs; d++) await Deno.mkdir(`${dir}/d${d}`, { recursive: true });
  const work: Promise<void>[] = [];
  for (let i = 0; i < FILES; i++) {
    const off = i % 4096;
    const data = pool.slice(off, off + size);
    new DataView(data.buffer).setUint32(0, i); // every file differs from every other
    work.push(Deno.writeFile(`${dir}/d${i % dirs}/f${i}`, data));
    if (work.length >= 64) await Promise.all(work.splice(0));
  }
  await Promise.all(work);
}

/** One checksum of every file's path and bytes (and the tree's modes), in order. */
async function treeSum(dir: string): Promise<string> {
  const r = await sh(
    `cd '${dir}' && { find . -printf '%p %m %y\\n' | LC_ALL=C sort; ` +
      `find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -n 256 sha256sum; } | sha256sum`,
  );
  assertEquals(r.code, 0, r.out);
  return r.out.split(" ")[0]!;
}

/** Changes a tree: rewrites 50 files, removes 50, adds 50. */
async function change(dir: string): Promise<void> {
  const dirs = Math.min(100, FILES);
  for (let i = 0; i < Math.min(50, FILES); i++) {
    await Deno.writeTextFile(`${dir}/d${i % dirs}/f${i}`, `rewritten ${i}`);
    await Deno.remove(`${dir}/d${(FILES - 1 - i) % dirs}/f${FILES - 1 - i}`).catch(() => {});
    await Deno.writeTextFile(`${dir}/d${i % dirs}/new${i}`, `added ${i}`);
  }
}

Deno.test({
  name: "snapshots: restore has the old bytes, the changed volume the new; sources may go",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    // trash-days=0: a deleted source is gone at once, so the restore must stand on its own.
    const secrets = { ...d.secrets, "format-options": "trash-days=0" };
    const create = async (name: string, source?: Record<string, unknown>) =>
      (await call<{ volume: { volume_id: string; content_source?: unknown } }>(d.controller, "CreateVolume", {
        name,
        capacity_range: { required_bytes: String(2 * GiB) },
        volume_capabilities: [mountCap()],
        parameters: {},
        secrets,
        ...(source ? { volume_content_source: source } : {}),
      })).volume;
    try {
      const src = await create("src");
      const fs = await fsRoot(d);
      let t = performance.now();
      await fill(`${fs}/src`);
      const fillMs = performance.now() - t;
      const before = await treeSum(`${fs}/src`);

      t = performance.now();
      const snap =
        (await call<{ snapshot: { snapshot_id: string; ready_to_use: boolean; size_bytes: string } }>(
          d.controller,
          "CreateSnapshot",
          { name: "snap-1", source_volume_id: src.volume_id, secrets },
        )).snapshot;
      const snapMs = performance.now() - t;
      assert(snap.ready_to_use, "the snapshot is ready when CreateSnapshot returns");
      assertEquals(snap.size_bytes, String(2 * GiB));

      t = performance.now();
      const cp = await sh(`cp -a '${fs}/src' '${fs}/cp-of-src'`);
      const cpMs = performance.now() - t;
      assertEquals(cp.code, 0, cp.out);
      console.log(
        `${FILES} files, ${MIB} MiB (written in ${(fillMs / 1000).toFixed(1)} s): ` +
          `CreateSnapshot ${snapMs.toFixed(0)} ms; cp -a of the same tree ${cpMs.toFixed(0)} ms`,
      );
      await sh(`rm -rf '${fs}/cp-of-src'`);

      await change(`${fs}/src`);
      const after = await treeSum(`${fs}/src`);
      assert(after !== before, "the change shows in the checksum");

      const restored = await create("restored", { snapshot: { snapshot_id: snap.snapshot_id } });
      const cloned = await create("cloned", { volume: { volume_id: src.volume_id } });
      assertEquals(await treeSum(`${fs}/restored`), before, "the restore has the bytes of the snapshot");
      assertEquals(await treeSum(`${fs}/cloned`), after, "the clone has the bytes of its source now");
      assertEquals(await treeSum(`${fs}/src`), after, "the source is untouched by both");
      assert(restored.content_source && cloned.content_source, "content_source is returned");

      await call(d.controller, "DeleteVolume", { volume_id: src.volume_id, secrets });
      await call(d.controller, "DeleteSnapshot", { snapshot_id: snap.snapshot_id, secrets });
      assertEquals(await treeSum(`${fs}/restored`), before, "the restore outlives its snapshot and source");
      assertEquals(await treeSum(`${fs}/cloned`), after, "the clone outlives its source");
      assertEquals(
        (await Array.fromAsync(Deno.readDir(`${fs}/.csi-jfs/tmp`))).length,
        0,
        "nothing half made",
      );
    } finally {
      await d.stop();
    }
  },
});

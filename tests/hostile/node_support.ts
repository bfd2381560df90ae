// The node fixture of the hostile tier: a driver with two volumes staged (one published),
// the node's client mount, a foreign tmpfs, a symlink and sentinels to aim hostile paths at,
// and the request builders the node case tables are written with.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, type Driver, JUICEFS, mountCap, mountsUnder, sh } from "../support/driver.ts";
import { assertRootHolds, type Case, fsRoot, nodeClientMount, runCases, withSuite } from "./support.ts";

export const INVALID = "INVALID_ARGUMENT";
export const LEGIT = "jfs1/itfs/delete/legit";
export const OTHER = "jfs1/itfs/delete/other";
export const BIG_ID = `jfs1/itfs/delete/${"d/".repeat(5119)}d`;
export const BLOCK = { block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } };

/** Where things are: set up before the cases. */
export interface Paths {
  /** legit's staging path, published at `target`. */
  staging: string;
  /** other's staging path. */
  otherStaging: string;
  target: string;
  /** The node's JuiceFS client mount (the whole file system). */
  client: string;
  /** The controller's admin mount of the file system (not the node's). */
  admin: string;
  /** With `foreignFuse`: a JuiceFS client of the same file system the driver did not start. */
  foreignFuse: string;
  /** A tmpfs the driver did not make, holding a file `marker`. */
  foreign: string;
  /** A symlink to the sentinel directory. */
  link: string;
  sentinelDir: string;
  sentinelFile: string;
}

/** Request builders: each fills a valid request and applies the hostile part. */
export function requests(d: Driver, p: Paths) {
  const secrets = d.secrets;
  let n = 0;
  const c = (method: string, name: string, code: string, req: Record<string, unknown>): Case => ({
    name,
    method,
    req,
    code,
  });
  const stage = (name: string, code: string, over: Record<string, unknown>) =>
    c("NodeStageVolume", name, code, {
      volume_id: LEGIT,
      staging_target_path: `${d.dir}/staging/n-${++n}`,
      volume_capability: mountCap(),
      volume_context: { subdir: "legit" },
      secrets,
      ...over,
    });
  const staticPv = (name: string, code: string, context: Record<string, string>) =>
    stage(name, code, { volume_id: "static-pv-handle", volume_context: context });
  const publish = (name: string, code: string, over: Record<string, unknown>) =>
    c("NodePublishVolume", name, code, {
      volume_id: LEGIT,
      staging_target_path: p.staging,
      target_path: `${d.dir}/pods/n-${++n}/vol`,
      volume_capability: mountCap(),
      ...over,
    });
  const unpublish = (name: string, code: string, over: Record<string, unknown>) =>
    c("NodeUnpublishVolume", name, code, {
      volume_id: LEGIT,
      target_path: `${d.dir}/pods/none/vol`,
      ...over,
    });
  const unstage = (name: string, code: string, over: Record<string, unknown>) =>
    c("NodeUnstageVolume", name, code, {
      volume_id: LEGIT,
      staging_target_path: `${d.dir}/staging/none`,
      ...over,
    });
  const stats = (name: string, code: string, over: Record<string, unknown>) =>
    c("NodeGetVolumeStats", name, code, { volume_id: LEGIT, volume_path: p.target, ...over });
  const stillMounted = async () => {
    assertEquals(mountsUnder(p.foreign), [p.foreign], "the foreign mount is still there");
    assert(await Deno.stat(`${p.foreign}/marker`).then(() => true, () => false), "its content too");
  };
  const fileIntact = async () => assert((await Deno.lstat(p.sentinelFile)).isFile, "the file is still there");

  return { c, stage, staticPv, publish, unpublish, unstage, stats, stillMounted, fileIntact };
}

/**
 * Runs the node cases on a fresh driver and fixture, then checks that only the driver's own
 * mounts came and went and that nothing outside the volume directories changed.
 */
export async function withNodeFixture(
  t: Deno.TestContext,
  cases: (d: Driver, p: Paths) => Case[],
  opts: { foreignFuse?: boolean } = {},
): Promise<void> {
  await withSuite(t, async ({ d, secrets, guard, seen, createVolume }) => {
    const foreign = `${d.dir}/foreign`;
    const foreignFuse = `${d.dir}/unknown-fuse`;
    try {
      const p: Paths = {
        staging: `${d.dir}/staging/legit`,
        otherStaging: `${d.dir}/staging/other`,
        target: `${d.dir}/pods/p1/vol`,
        client: "",
        admin: "",
        foreignFuse,
        foreign,
        link: `${d.dir}/links/to-sentinel`,
        sentinelDir: guard.sentinelDir,
        sentinelFile: guard.sentinelFile,
      };
      for (const [name, staging] of [["legit", p.staging], ["other", p.otherStaging]] as const) {
        const volume = await createVolume(name);
        await call(d.node, "NodeStageVolume", {
          volume_id: volume.volume_id,
          staging_target_path: staging,
          volume_capability: mountCap(),
          volume_context: volume.volume_context,
          secrets,
        });
      }
      await call(d.node, "NodePublishVolume", {
        volume_id: LEGIT,
        staging_target_path: p.staging,
        target_path: p.target,
        volume_capability: mountCap(),
      });
      p.client = await nodeClientMount(d);
      const root = await fsRoot(d);
      p.admin = root;
      if (opts.foreignFuse) {
        await Deno.mkdir(foreignFuse);
        const f = await sh(`${JUICEFS} mount ${d.secrets.metaurl} ${foreignFuse} -d --no-usage-report`);
        assertEquals(f.code, 0, f.out);
      }
      // A user of the file system (a pod with a static PV of its root) plants a link to the host.
      await Deno.symlink(guard.sentinelDir, `${root}/planted`);
      await Deno.mkdir(`${d.dir}/links`);
      await Deno.symlink(guard.sentinelDir, p.link);
      await Deno.mkdir(foreign);
      const m = await sh(`mount -t tmpfs hostile-foreign ${foreign} && touch ${foreign}/marker`);
      assertEquals(m.code, 0, m.out);

      await runCases(t, d, cases(d, p), seen);

      await t.step("unpublish and unstage leave no mount behind", async () => {
        await call(d.node, "NodeUnpublishVolume", { volume_id: LEGIT, target_path: p.target });
        await call(d.node, "NodeUnstageVolume", { volume_id: LEGIT, staging_target_path: p.staging });
        await call(d.node, "NodeUnstageVolume", { volume_id: OTHER, staging_target_path: p.otherStaging });
        assertEquals(mountsUnder(`${d.dir}/staging`), []);
        assertEquals(mountsUnder(`${d.dir}/pods`), []);
        assertEquals(mountsUnder(`${d.dir}/links`), []);
        assertEquals(mountsUnder(foreign), [foreign], "the foreign mount is untouched");
        if (opts.foreignFuse) assertEquals(mountsUnder(foreignFuse), [foreignFuse], "the foreign client too");
      });
      await t.step("nothing outside the legitimate volume directories changed", async () => {
        await guard.check();
        await Deno.remove(`${root}/planted`);
        await assertRootHolds(d, ["legit", "other"]);
      });
    } finally {
      for (const m of mountsUnder(foreign)) await sh(`umount -l '${m}'`);
      if (mountsUnder(foreignFuse).length) await sh(`${JUICEFS} umount --force '${foreignFuse}'`);
    }
  });
}

// Hostile snapshot, clone and listing requests against the real driver (issue 10 item 4):
// forged snapshot ids and source ids aimed at the reserved directory, its records and beyond;
// links planted by a tenant of the file system root in the volume, the clone area and the
// snapshot area; bad names, tokens and parameters. The snapshot area and the records are never
// reached through any of them (nor staged by the node as a static volume), and nothing outside
// the legitimate directories changes.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, type Driver, mountCap, mountsUnder } from "../support/driver.ts";
import { assertRootHolds, type Case, fsRoot, GiB, runCases, snapshot, withSuite } from "./support.ts";

const INVALID = "INVALID_ARGUMENT";
const SNAP = "jfs1s/itfs/snap-legit";

/** Snapshot ids that name no snapshot of this driver. */
const NOT_SNAPSHOTS: Array<[string, string]> = [
  ["a `..` name", "jfs1s/itfs/.."],
  ["an encoded traversal", "jfs1s/itfs/..%2F..%2Fetc"],
  ["a traversal after a real snapshot", "jfs1s/itfs/snap-legit/../../volumes"],
  ["the records' file name", "jfs1s/itfs/snap-legit.json"],
  ["the tree's file name", "jfs1s/itfs/snap-legit.tree"],
  ["an encoded NUL", "jfs1s/itfs/snap%00legit"],
  ["a second spelling of a real name", "jfs1s/itfs/snap%2Dlegit"],
  ["bad percent-encoding", "jfs1s/itfs/%E0%A4%A"],
  ["no name", "jfs1s/itfs/"],
  ["a volume id", "jfs1/itfs/delete/legit"],
  ["an upper-case file system name", "jfs1s/ITFS/snap-legit"],
  ["10 KiB", `jfs1s/itfs/${"s".repeat(10 * 1024)}`],
];

/** Source volume ids aimed at the driver's own tree. */
const NOT_VOLUMES: Array<[string, string]> = [
  ["the snapshot area", "jfs1/itfs/delete/.csi-jfs/snapshots"],
  ["a snapshot's tree", "jfs1/itfs/delete/.csi-jfs/snapshots/snap-legit.tree"],
  ["the clone area", "jfs1/itfs/delete/.csi-jfs/tmp"],
  ["the volume records", "jfs1/itfs/delete/.csi-jfs/volumes"],
  ["a traversal", "jfs1/itfs/delete/legit/../.csi-jfs"],
  ["a volume never created", "jfs1/itfs/delete/never-created"],
];

function cases(d: Driver, root: string, treeBefore: string[]): Case[] {
  const secrets = d.secrets;
  const other = { ...secrets, name: "otherfs" };
  const treeIntact = async () => {
    assertEquals(
      await snapshot(`${root}/.csi-jfs/snapshots/snap-legit.tree`),
      treeBefore,
      "the snapshot's tree",
    );
  };
  const snap = (name: string, code: string, over: Record<string, unknown>): Case => ({
    name,
    method: "CreateSnapshot",
    code,
    req: { name: "s-new", source_volume_id: "jfs1/itfs/delete/legit", secrets, ...over },
  });
  const restore = (name: string, code: string, source: Record<string, unknown>, over = {}): Case => ({
    name,
    method: "CreateVolume",
    code,
    req: {
      name: "restored-hostile",
      capacity_range: { required_bytes: GiB },
      volume_capabilities: [mountCap()],
      secrets,
      volume_content_source: source,
      ...over,
    },
    then: async () => assert(!(await Deno.lstat(`${root}/restored-hostile`).catch(() => undefined))),
  });
  const del = (name: string, code: string, id: string, s = secrets): Case => ({
    name,
    method: "DeleteSnapshot",
    code,
    req: { snapshot_id: id, secrets: s },
    then: treeIntact,
  });
  return [
    snap("no name", INVALID, { name: "" }),
    snap("no source", INVALID, { source_volume_id: "" }),
    snap("a NUL in the name", INVALID, { name: "a\0b" }),
    snap("a 10 KiB name", INVALID, { name: "n".repeat(10 * 1024) }),
    snap("an unknown parameter", INVALID, { parameters: { pathPattern: "../x" } }),
    snap("secrets of another file system", INVALID, { secrets: other }),
    snap("the same name for another source", "ALREADY_EXISTS", {
      name: "snap-legit",
      source_volume_id: "jfs1/itfs/delete/other",
    }),
    ...NOT_VOLUMES.map(([what, id]) => snap(`a source id of ${what}`, "NOT_FOUND", { source_volume_id: id })),
    {
      ...snap("a traversal in the name stays in the snapshot area", "OK", { name: "../../../escape" }),
      then: async () => {
        const entries = (await Array.fromAsync(Deno.readDir(`${root}/.csi-jfs/snapshots`))).map((e) =>
          e.name
        );
        assert(entries.includes("..%2F..%2F..%2Fescape.tree"), `snapshot entries: ${entries.join(", ")}`);
        assert(!(await Deno.lstat(`${root}/escape`).catch(() => undefined)), "nothing in the root");
      },
    },
    ...NOT_SNAPSHOTS.map(([what, id]) =>
      restore(`a snapshot id with ${what}`, "NOT_FOUND", { snapshot: { snapshot_id: id } })
    ),
    ...NOT_VOLUMES.map(([what, id]) =>
      restore(`a source volume of ${what}`, "NOT_FOUND", { volume: { volume_id: id } })
    ),
    restore("a snapshot of another file system", INVALID, {
      snapshot: { snapshot_id: "jfs1s/otherfs/snap-legit" },
    }),
    restore("a volume of another file system", INVALID, {
      volume: { volume_id: "jfs1/otherfs/delete/legit" },
    }),
    restore("less room than the snapshot holds", "OUT_OF_RANGE", { snapshot: { snapshot_id: SNAP } }, {
      capacity_range: { required_bytes: String(Number(GiB) / 2) },
    }),
    restore("a pathPattern into the snapshot area", INVALID, { snapshot: { snapshot_id: SNAP } }, {
      parameters: { pathPattern: ".csi-jfs/snapshots/snap-legit.tree" },
    }),
    ...NOT_SNAPSHOTS.map(([what, id]) => del(`an id with ${what}`, "OK", id)),
    del("secrets of another file system", INVALID, SNAP, other),
    {
      name: "a foreign token",
      method: "ListSnapshots",
      code: "ABORTED",
      req: { starting_token: "7", secrets },
    },
    {
      name: "negative max_entries",
      method: "ListSnapshots",
      code: INVALID,
      req: { max_entries: -1, secrets },
    },
    { name: "a foreign token", method: "ListVolumes", code: "ABORTED", req: { starting_token: "../x" } },
    ...[".csi-jfs/snapshots/snap-legit.tree", ".csi-jfs/snapshots", ".csi-jfs/tmp"].map((subdir): Case => ({
      name: `a static volume of ${subdir}`,
      method: "NodeStageVolume",
      code: INVALID,
      req: {
        volume_id: "static-snapshot-area",
        staging_target_path: `${d.dir}/stage-snapshot-area`,
        volume_capability: mountCap(),
        secrets,
        volume_context: { subdir },
      },
      then: () => assertEquals(mountsUnder(`${d.dir}/stage-snapshot-area`), [], "nothing mounted"),
    })),
    {
      name: "a forged snapshot id lists nothing",
      method: "ListSnapshots",
      code: "OK",
      req: { snapshot_id: "jfs1s/itfs/snap-legit.json", secrets },
      then: (o) => assertEquals((o.response?.entries as unknown[]).length, 0),
    },
  ];
}

Deno.test({
  name: "hostile input: snapshots, clones and listings",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withSuite(t, async ({ d, guard, seen, createVolume }) => {
      await createVolume("legit");
      await createVolume("other");
      const root = await fsRoot(d);
      await Deno.writeTextFile(`${root}/legit/data`, "legit data");
      await call(d.controller, "CreateSnapshot", {
        name: "snap-legit",
        source_volume_id: "jfs1/itfs/delete/legit",
        secrets: d.secrets,
      });
      const treeBefore = await snapshot(`${root}/.csi-jfs/snapshots/snap-legit.tree`);

      await t.step("the snapshot area is root's, 0700, its records 0600", async () => {
        const st = await Deno.lstat(`${root}/.csi-jfs/snapshots`);
        assertEquals([st.uid, (st.mode! & 0o7777).toString(8)], [0, "700"]);
        const rec = await Deno.lstat(`${root}/.csi-jfs/snapshots/snap-legit.json`);
        assertEquals([rec.uid, (rec.mode! & 0o7777).toString(8)], [0, "600"]);
      });

      await runCases(t, d, cases(d, root, treeBefore), seen);

      await t.step("links planted by a tenant are refused, and nothing they point at changes", async () => {
        const code = async (method: string, req: Record<string, unknown>) =>
          await call(d.controller, method, req).then(() => "OK", (e) => (e as { code: string }).code);
        // The source volume swapped for a link to the host.
        await Deno.rename(`${root}/other`, `${root}/other.real`);
        await Deno.symlink(guard.sentinelDir, `${root}/other`);
        assertEquals(
          await code("CreateSnapshot", {
            name: "s-link",
            source_volume_id: "jfs1/itfs/delete/other",
            secrets: d.secrets,
          }),
          "FAILED_PRECONDITION",
        );
        await Deno.remove(`${root}/other`);
        await Deno.rename(`${root}/other.real`, `${root}/other`);
        // The clone area swapped for a link.
        await Deno.remove(`${root}/.csi-jfs/tmp`, { recursive: true }).catch(() => {});
        await Deno.symlink(guard.sentinelDir, `${root}/.csi-jfs/tmp`);
        assertEquals(
          await code("CreateSnapshot", {
            name: "s-tmp",
            source_volume_id: "jfs1/itfs/delete/other",
            secrets: d.secrets,
          }),
          "FAILED_PRECONDITION",
        );
        await Deno.remove(`${root}/.csi-jfs/tmp`);
        // A snapshot's tree swapped for a link: restore and delete refuse it, touch nothing.
        const tree = `${root}/.csi-jfs/snapshots/snap-legit.tree`;
        await Deno.rename(tree, `${tree}.real`);
        await Deno.symlink(guard.sentinelDir, tree);
        const restore = {
          name: "restored-link",
          capacity_range: { required_bytes: GiB },
          volume_capabilities: [mountCap()],
          secrets: d.secrets,
          volume_content_source: { snapshot: { snapshot_id: SNAP } },
        };
        assertEquals(await code("CreateVolume", restore), "FAILED_PRECONDITION");
        assertEquals(
          await code("DeleteSnapshot", { snapshot_id: SNAP, secrets: d.secrets }),
          "FAILED_PRECONDITION",
        );
        assert((await Deno.lstat(tree)).isSymlink, "the planted link is left as it was");
        await Deno.remove(tree);
        await Deno.rename(`${tree}.real`, tree);
        await guard.check();
        assertEquals(await code("CreateVolume", restore), "OK");
        assertEquals(await Deno.readTextFile(`${root}/restored-link/data`), "legit data");
      });

      await t.step("deleting the snapshots leaves the snapshot area empty", async () => {
        for (const name of ["snap-legit", "../../../escape"]) {
          await call(d.controller, "DeleteSnapshot", {
            snapshot_id: `jfs1s/itfs/${encodeURIComponent(name)}`,
            secrets: d.secrets,
          });
        }
        assertEquals((await Array.fromAsync(Deno.readDir(`${root}/.csi-jfs/snapshots`))).length, 0);
        await guard.check();
        await assertRootHolds(d, ["legit", "other", "restored-link"]);
      });
    }),
});

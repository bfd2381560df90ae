// Hostile DeleteVolume, ControllerExpandVolume and ValidateVolumeCapabilities requests against
// the real driver: missing fields, malformed and forged volume ids (traversal, the reserved
// directory, NUL, 10 KiB), secrets of another file system, bad capacities. DeleteVolume of an
// id that is not a volume is OK and deletes nothing; the others answer NOT_FOUND. DeleteVolume
// runs last so that a wrongly destructive case cannot mask the others.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { type Driver, mountCap } from "../support/driver.ts";
import { dirname } from "node:path";
import {
  assertRootHolds,
  type Case,
  fsRoot,
  GiB,
  MAX_INT64,
  runCases,
  snapshot,
  withSuite,
} from "./support.ts";

const INVALID = "INVALID_ARGUMENT";
const LEGIT = "jfs1/itfs/delete/legit";
const FORGED = "2026-01-01 00:00:00.000 +00:00 [INF] csi-jfs·controller: volume /legit deleted (forged)";

/** Ids that name no volume of this driver, each for its own reason. */
const NOT_VOLUMES: Array<[string, string]> = [
  ["a `..` traversal", "jfs1/itfs/delete/../../x"],
  ["a traversal out of a real volume", "jfs1/itfs/delete/legit/../../etc"],
  ["an absolute subdir", "jfs1/itfs/delete//etc"],
  ["the reserved directory", "jfs1/itfs/delete/.csi-jfs"],
  ["the volume records", "jfs1/itfs/delete/.csi-jfs/volumes"],
  ["a percent-encoded traversal", "jfs1/itfs/delete/%2e%2e/%2e%2e/etc"],
  ["a NUL after a real volume", "jfs1/itfs/delete/legit\0"],
  ["a newline after a real volume", "jfs1/itfs/delete/legit\n"],
  ["fullwidth full stops", "jfs1/itfs/delete/\uFF0E\uFF0E/etc"],
  ["a 10 KiB id of this driver's form", `jfs1/itfs/delete/${"d/".repeat(5119)}d`],
  ["a 10 KiB id of no known form", "x".repeat(10 * 1024)],
  ["an unknown delete policy", "jfs1/itfs/shred/legit"],
  ["an upper-case file system name", "jfs1/ITFS/delete/legit"],
  ["another id version", "jfs2/itfs/delete/legit"],
  ["no subdir", "jfs1/itfs/delete/"],
  // Issue 11 item 16: every segment fits a name, the record name of the whole would not.
  [
    "a subdir too long to have a record",
    `jfs1/itfs/delete/${["a", "b", "c", "d"].map((c) => c.repeat(200)).join("/")}`,
  ],
  ["a 255-byte subdir", `jfs1/itfs/delete/${"n".repeat(255)}`],
];

function cases(d: Driver, root: string): Case[] {
  const secrets = d.secrets;
  const other = { ...secrets, name: "otherfs" };
  const caps = [mountCap()];
  const c = (method: string, name: string, code: string, req: Record<string, unknown>): Case => ({
    name,
    method,
    req,
    code,
  });
  const expand = (name: string, code: string, over: Record<string, unknown>) =>
    c("ControllerExpandVolume", name, code, {
      volume_id: LEGIT,
      capacity_range: { required_bytes: String(2 * Number(GiB)) },
      secrets,
      ...over,
    });
  const validate = (name: string, code: string, over: Record<string, unknown>) =>
    c("ValidateVolumeCapabilities", name, code, {
      volume_id: LEGIT,
      volume_capabilities: caps,
      secrets,
      ...over,
    });
  const memberSurvives = async () => {
    assert((await Deno.lstat(`${root}/team/member`)).isDirectory, "volume team/member survives");
  };
  return [
    expand("an empty request", INVALID, { volume_id: "", capacity_range: null, secrets: {} }),
    expand("no volume_id", INVALID, { volume_id: "" }),
    expand("no capacity_range", INVALID, { capacity_range: null }),
    expand("a capacity_range of zeroes", INVALID, { capacity_range: {} }),
    expand("a negative required_bytes", INVALID, { capacity_range: { required_bytes: "-1" } }),
    expand("limit_bytes below required_bytes", INVALID, {
      capacity_range: { required_bytes: String(3 * Number(GiB)), limit_bytes: GiB },
    }),
    expand("required_bytes of 2^63 (arrives negative)", INVALID, {
      capacity_range: { required_bytes: "9223372036854775808" },
    }),
    expand("no secrets", INVALID, { secrets: {} }),
    expand("secrets of another file system", INVALID, { secrets: other }),
    ...NOT_VOLUMES.map(([what, id]) => expand(`an id with ${what}`, "NOT_FOUND", { volume_id: id })),
    expand("a well-formed id of a volume never created", "NOT_FOUND", {
      volume_id: "jfs1/itfs/delete/never-created",
    }),
    // Regression: bug F, found by this tier and fixed.
    expand("a forged id naming the parent of another volume", "NOT_FOUND", {
      volume_id: "jfs1/itfs/delete/team",
    }),
    // Regression: bug B, found by this tier and fixed.
    expand("required_bytes of 2^63-1", "OUT_OF_RANGE", { capacity_range: { required_bytes: MAX_INT64 } }),
    {
      ...expand("a shrink request", "OK", { capacity_range: { required_bytes: "1" } }),
      then: (o) => assertEquals(o.response?.capacity_bytes, GiB, "the quota is never lowered"),
    },

    validate("an empty request", INVALID, { volume_id: "", volume_capabilities: [], secrets: {} }),
    validate("no volume_id", INVALID, { volume_id: "" }),
    validate("no volume_capabilities", INVALID, { volume_capabilities: [] }),
    validate("secrets of another file system", INVALID, { secrets: other }),
    ...NOT_VOLUMES.map(([what, id]) => validate(`an id with ${what}`, "NOT_FOUND", { volume_id: id })),
    validate("a well-formed id of a volume never created", "NOT_FOUND", {
      volume_id: "jfs1/itfs/delete/never-created",
    }),
    {
      ...validate("a block capability", "OK", {
        volume_capabilities: [{ block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } }],
      }),
      then: (o) => {
        assert(!o.response?.confirmed, "a block capability is not confirmed");
        assert(String(o.response?.message).includes("block"), "the response says why");
      },
    },
    {
      ...validate("a legitimate request after all the above", "OK", {}),
      then: (o) => assert(o.response?.confirmed, "confirmed"),
    },

    // DeleteVolume: the spec wants OK for an id that is not a volume, and nothing deleted.
    c("DeleteVolume", "an empty request", INVALID, {}),
    c("DeleteVolume", "no secrets for an id of this driver", INVALID, { volume_id: "jfs1/itfs/delete/gone" }),
    c("DeleteVolume", "secrets of another file system", INVALID, { volume_id: LEGIT, secrets: other }),
    ...NOT_VOLUMES.map(([what, id]) =>
      c("DeleteVolume", `an id with ${what}`, "OK", { volume_id: id, secrets })
    ),
    c("DeleteVolume", "a well-formed id of a volume never created", "OK", {
      volume_id: "jfs1/itfs/delete/never-created",
      secrets,
    }),
    // Regression: bug F, found by this tier and fixed.
    {
      ...c("DeleteVolume", "a forged id naming the parent of another volume", "OK", {
        volume_id: "jfs1/itfs/delete/team",
        secrets,
      }),
      then: memberSurvives,
    },
    // Issue 11 item 5: the record decides the policy; the id only finds the record.
    {
      ...c("DeleteVolume", "an id of a retained volume edited to say delete", "OK", {
        volume_id: "jfs1/itfs/delete/team/kept",
        secrets,
      }),
      then: async () => {
        assertEquals(
          await Deno.readTextFile(`${root}/team/kept/data`),
          "keep me",
          "the retained data survives",
        );
      },
    },
    // Issue 11 item 17: a newline in a logged field cannot forge a line of the text log.
    {
      ...c("DeleteVolume", "an id carrying a forged log line", "OK", {
        volume_id: `x\n${FORGED}\r\x1b[2K`,
        secrets,
      }),
      then: async () => {
        const lines = (await d.logs()).split("\n");
        assert(!lines.some((l) => l.startsWith(FORGED)), "a forged line reached the log");
        assert(lines.some((l) => l.includes(`x\\n${FORGED}\\r\\x1b[2K`)), "the id is logged, escaped");
      },
    },
    // The link is followed by nothing: the host directory it points at stays intact (guard).
    c("DeleteVolume", "an id naming a planted symlink to a host directory", "OK", {
      volume_id: "jfs1/itfs/delete/planted",
      secrets,
    }),

    c("ControllerPublishVolume", "an RPC the driver does not offer", "UNIMPLEMENTED", { volume_id: LEGIT }),
    // Offered since issue 10 (tests/hostile/snapshot_test.ts has the rest).
    c("ListVolumes", "a token the driver did not give", "ABORTED", { starting_token: "../.." }),
    c("CreateSnapshot", "a traversal as the source volume", "NOT_FOUND", {
      source_volume_id: "jfs1/itfs/delete/../../x",
      name: "..",
      secrets,
    }),
  ];
}

Deno.test({
  name: "hostile input: DeleteVolume, ControllerExpandVolume, ValidateVolumeCapabilities",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withSuite(t, async ({ d, guard, seen, createVolume }) => {
      await createVolume("legit");
      await createVolume("pv-member", { pathPattern: "team/member" });
      const kept = await createVolume("pv-kept", { pathPattern: "team/kept", onDelete: "retain" });
      assertEquals(kept.volume_id, "jfs1/itfs/retain/team/kept");
      const root = await fsRoot(d);
      await Deno.writeTextFile(`${root}/legit/data`, "keep me");
      await Deno.writeTextFile(`${root}/team/member/data`, "keep me");
      await Deno.writeTextFile(`${root}/team/kept/data`, "keep me");
      // A user of the file system (a pod with a static PV of its root) plants a link to the host.
      await Deno.symlink(guard.sentinelDir, `${root}/planted`);

      await runCases(t, d, cases(d, root), seen);

      await t.step("nothing outside the legitimate volume directories changed", async () => {
        await guard.check();
        await Deno.remove(`${root}/planted`).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
        await Deno.remove(`${root}/team/kept`, { recursive: true });
        await assertRootHolds(d, ["legit", "team/member"]);
        assertEquals(await Deno.readTextFile(`${root}/legit/data`), "keep me");
        assertEquals(await Deno.readTextFile(`${root}/team/member/data`), "keep me");
      });
    }),
});

/** A host directory outside the driver's, holding what a forged record tree would touch. */
async function hostRecords(
  d: Driver,
): Promise<{ dir: string; check(): Promise<void>; cleanup(): Promise<void> }> {
  const dir = `${dirname(d.dir)}/csi-jfs-hostile-records-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${dir}/volumes`, { recursive: true });
  const victim = JSON.stringify({ name: "victim", subdir: "victim", capacityBytes: "0", createdAt: "x" });
  await Deno.writeTextFile(`${dir}/victim.json`, victim);
  await Deno.writeTextFile(`${dir}/volumes/victim.json`, victim);
  const before = await snapshot(dir);
  return {
    dir,
    check: async () => assertEquals(await snapshot(dir), before, "the host directory changed"),
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

// Issue 11 item 2: a tenant who can write the file system root replaces the driver's metadata
// tree (or part of it) with a link to a host directory, or with a file. Every request that
// would reach the records through it is refused, and nothing is written or deleted there.
Deno.test({
  name: "hostile file system: links and files planted in the driver's metadata tree",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withSuite(t, async ({ d, guard, seen, createVolume }) => {
      const secrets = d.secrets;
      await createVolume("legit");
      const root = await fsRoot(d);
      const host = await hostRecords(d);
      const meta = `${root}/.csi-jfs`;
      const plants: Array<[string, () => Promise<void>, () => Promise<void>]> = [
        [
          "/.csi-jfs/volumes is a link to a host directory",
          async () => {
            await Deno.rename(`${meta}/volumes`, `${meta}/volumes.real`);
            await Deno.symlink(host.dir, `${meta}/volumes`);
          },
          async () => {
            await Deno.remove(`${meta}/volumes`);
            await Deno.rename(`${meta}/volumes.real`, `${meta}/volumes`);
          },
        ],
        [
          "/.csi-jfs is a link to a host directory",
          async () => {
            await Deno.rename(meta, `${root}/csi-jfs.real`);
            await Deno.symlink(host.dir, meta);
          },
          async () => {
            await Deno.remove(meta);
            await Deno.rename(`${root}/csi-jfs.real`, meta);
          },
        ],
        [
          "/.csi-jfs/volumes is a file",
          async () => {
            await Deno.rename(`${meta}/volumes`, `${meta}/volumes.real`);
            await Deno.writeTextFile(`${meta}/volumes`, "not a directory");
          },
          async () => {
            await Deno.remove(`${meta}/volumes`);
            await Deno.rename(`${meta}/volumes.real`, `${meta}/volumes`);
          },
        ],
      ];
      try {
        for (const [what, plant, restore] of plants) {
          await plant();
          try {
            const cases: Case[] = [
              {
                name: `${what}: a new volume`,
                method: "CreateVolume",
                req: {
                  name: "fresh",
                  capacity_range: { required_bytes: GiB },
                  volume_capabilities: [mountCap()],
                  parameters: {},
                  secrets,
                },
                code: "FAILED_PRECONDITION",
              },
              {
                name: `${what}: an id crafted to find a host file as its record`,
                method: "DeleteVolume",
                req: { volume_id: "jfs1/itfs/delete/victim", secrets },
                code: "FAILED_PRECONDITION",
              },
              {
                name: `${what}: the legitimate volume`,
                method: "DeleteVolume",
                req: { volume_id: "jfs1/itfs/delete/legit", secrets },
                code: "FAILED_PRECONDITION",
              },
              {
                name: `${what}: expanding the legitimate volume`,
                method: "ControllerExpandVolume",
                req: {
                  volume_id: "jfs1/itfs/delete/legit",
                  capacity_range: { required_bytes: String(2 * Number(GiB)) },
                  secrets,
                },
                code: "FAILED_PRECONDITION",
              },
            ];
            await runCases(t, d, cases, seen);
            await host.check();
          } finally {
            await restore();
          }
        }
        await t.step("nothing outside the file system changed; the volume is intact", async () => {
          await host.check();
          await guard.check();
          await assertRootHolds(d, ["legit"]);
        });
      } finally {
        await host.cleanup();
      }
    }),
});

import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import {
  checkRecordable,
  openFsRoot,
  openMetaDir,
  policyOf,
  readRecord,
  recordName,
  removeRecord,
  type VolumeRecord,
  writeRecord,
} from "./volume_records.ts";

const test = (name: string, fn: (root: string) => Promise<void>) =>
  Deno.test({
    name: `volume records: ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "volume_records_test" });
      await Deno.mkdir(join(dir, "mnt"));
      try {
        await fn(join(dir, "mnt"));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

const REC: VolumeRecord = {
  name: "pv",
  subdir: "team/pv",
  capacityBytes: "1",
  createdAt: "t",
  onDelete: "delete",
};

Deno.test("volume records: record names fit NAME_MAX or the subdir is refused", async () => {
  const table: Array<[string, boolean]> = [
    ["pv", true],
    ["team/pv", true],
    ["n".repeat(245), true],
    ["n".repeat(246), false],
    [["a", "b", "c", "d"].map((c) => c.repeat(200)).join("/"), false],
    [`${"a/".repeat(61)}a`, true], // each "a/" is "a%2F": 4 * 61 + 1 + 5 = 250 bytes
    [`${"a/".repeat(62)}a`, false],
  ];
  for (const [subdir, fits] of table) {
    assertEquals(recordName(subdir) !== undefined, fits, `${subdir.length} bytes`);
    if (!fits) {
      await assertCodedError(
        () => Promise.resolve().then(() => checkRecordable(subdir, "x")),
        Code.INVALID_ARGUMENT,
      );
    }
  }
});

Deno.test("volume records: the policy is the record's; an older record's is retain", () => {
  assertEquals(policyOf(REC), "delete");
  const { onDelete: _, ...legacy } = REC;
  assertEquals(policyOf(legacy), "retain");
});

test("written 0600 in a 0700 tree, read back, removed; a planted link is replaced, not followed", async (mnt) => {
  const root = await openFsRoot(mnt);
  try {
    const volumes = await openMetaDir(root, "volumes", true);
    assert(volumes, "made");
    try {
      const host = await Deno.makeTempFile();
      await Deno.symlink(host, join(mnt, ".csi-jfs/volumes/team%2Fpv.json.tmp"));
      await writeRecord(volumes, REC);
      assertEquals(await Deno.readTextFile(host), "", "nothing written through the planted link");
      await Deno.remove(host);
      assertEquals(await readRecord(volumes, "team/pv"), REC);
      for (
        const [p, mode] of [[".csi-jfs", 0o700], [".csi-jfs/volumes", 0o700], [
          ".csi-jfs/volumes/team%2Fpv.json",
          0o600,
        ]] as const
      ) {
        assertEquals((await Deno.lstat(join(mnt, p))).mode! & 0o7777, mode, p);
      }
      await removeRecord(volumes, "team/pv");
      assertEquals(await readRecord(volumes, "team/pv"), undefined);
    } finally {
      volumes.close();
    }
    assertEquals(await openMetaDir(root, "archive", false), undefined, "missing and not made");
  } finally {
    root.close();
  }
});

test("a metadata directory others may write is FAILED_PRECONDITION", async (mnt) => {
  await Deno.mkdir(join(mnt, ".csi-jfs/volumes"), { recursive: true });
  await Deno.chmod(join(mnt, ".csi-jfs/volumes"), 0o777);
  const root = await openFsRoot(mnt);
  try {
    await assertCodedError(() => openMetaDir(root, "volumes", false), Code.FAILED_PRECONDITION, /mode 777/);
  } finally {
    root.close();
  }
});

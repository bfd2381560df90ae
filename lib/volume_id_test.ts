import { assertEquals } from "./testing/assert.ts";
import {
  decodeSnapshotId,
  decodeVolumeId,
  encodeSnapshotId,
  encodeVolumeId,
  sameVolume,
  type VolumeRef,
} from "./volume_id.ts";

Deno.test("volume ids round-trip", () => {
  const refs: VolumeRef[] = [
    { fsName: "myjfs", onDelete: "delete", subdir: "pvc-1" },
    { fsName: "abc", onDelete: "archive", subdir: "ns/name" },
  ];
  for (const r of refs) assertEquals(decodeVolumeId(encodeVolumeId(r)), r);
});

Deno.test("decodeVolumeId rejects foreign and hostile ids", () => {
  for (
    const id of [
      "",
      "some-vol-id",
      "jfs1/myjfs/delete",
      "jfs1/myjfs/delete/",
      "jfs1/myjfs/purge/x",
      "jfs1/MY/delete/x",
      "jfs1/myjfs/delete/../x",
      "jfs1/myjfs/delete//x",
      "jfs1/myjfs/delete/x\0y",
      "jfs2/myjfs/delete/x",
    ]
  ) assertEquals(decodeVolumeId(id), undefined, id);
});

Deno.test("snapshot ids round-trip, one spelling per name", () => {
  for (const name of ["snap-1", "a/../../b", "ünï cödé", "x".repeat(128)]) {
    const id = encodeSnapshotId({ fsName: "myjfs", name });
    assertEquals(decodeSnapshotId(id), { fsName: "myjfs", name });
  }
  const foreign = [
    "",
    "reallyfakesnapshotid",
    "jfs1s/myjfs/",
    "jfs1s/myjfs/a/b",
    "jfs1s/MYJFS/a",
    "jfs1s/myjfs/%2",
    "jfs1s/myjfs/%00",
    "jfs1s/myjfs/snap%2D1", // "snap-1" spelled another way
    "jfs1/myjfs/delete/a",
  ];
  for (const id of foreign) assertEquals(decodeSnapshotId(id), undefined, id);
});

Deno.test("sameVolume compares file system and directory, not the policy in the id", () => {
  assertEquals(sameVolume("jfs1/a1b/delete/x", "jfs1/a1b/retain/x"), true);
  assertEquals(sameVolume("jfs1/a1b/delete/x", "jfs1/a1b/delete/y"), false);
  assertEquals(sameVolume("jfs1/a1b/delete/x", "jfs1/a2b/delete/x"), false);
  assertEquals(sameVolume("garbage", "garbage"), false);
});

import { assertEquals } from "./testing/assert.ts";
import { decodeVolumeId, encodeVolumeId, type VolumeRef } from "./volume_id.ts";

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

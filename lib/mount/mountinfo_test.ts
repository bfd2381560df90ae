import { assertEquals } from "../testing/assert.ts";
import { findMount, findMountByIdIn, findMountIn, parseMountinfo } from "./mountinfo.ts";

const SAMPLE = [
  "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
  "90 22 0:52 / /var/lib/csi-jfs/clients/abc/mnt rw,relatime shared:50 - fuse.juicefs JuiceFS:vol rw,user_id=0,group_id=0",
  "91 22 0:52 /pvc-1 /var/lib/kubelet/plugins/x/globalmount rw,relatime shared:50 - fuse.juicefs JuiceFS:vol rw",
  "92 22 0:52 /pvc-1 /var/lib/kubelet/pods/p/volumes/x/mount ro,relatime shared:50 - fuse.juicefs JuiceFS:vol rw",
  "93 22 0:60 / /mnt/with\\040space rw - tmpfs tmpfs rw",
  "garbage line",
].join("\n");

Deno.test("parseMountinfo reads fields, binds and escapes", () => {
  const m = parseMountinfo(SAMPLE);
  assertEquals(m.length, 5);
  const cases: Array<[string, string, string, string, boolean]> = [
    ["/var/lib/csi-jfs/clients/abc/mnt", "0:52", "/", "fuse.juicefs", false],
    ["/var/lib/kubelet/plugins/x/globalmount", "0:52", "/pvc-1", "fuse.juicefs", false],
    ["/var/lib/kubelet/pods/p/volumes/x/mount", "0:52", "/pvc-1", "fuse.juicefs", true],
    ["/mnt/with space", "0:60", "/", "tmpfs", false],
  ];
  for (const [path, dev, root, fs, ro] of cases) {
    const e = findMount(m, path);
    assertEquals([e?.device, e?.root, e?.fsType, e?.options.includes("ro")], [dev, root, fs, ro], path);
  }
  assertEquals(findMount(m, "/nope"), undefined);
});

Deno.test("findMountIn: the same entry as a full parse, for every kind of path", () => {
  const text = SAMPLE + "\n94 22 0:61 / /var/lib/csi-jfs/clients/abc/mnt rw - fuse.juicefs JuiceFS:vol rw\n";
  const paths = [
    "/var/lib/csi-jfs/clients/abc/mnt", // stacked twice: the later line wins
    "/var/lib/kubelet/plugins/x/globalmount",
    "/mnt/with space",
    "/pvc-1", // appears only as a root, never as a mount point
    "/",
    "/var/lib/kubelet/pods/p/volumes/x/mount",
    "/nope",
    "/var/lib/kubelet", // a prefix of mount points
  ];
  const all = parseMountinfo(text);
  for (const p of paths) assertEquals(findMountIn(text, p), findMount(all, p), p);
  assertEquals(findMountIn(text, "/var/lib/csi-jfs/clients/abc/mnt")?.device, "0:61");
});

Deno.test("findMountByIdIn: the entry of that id only, first line, middle and absent", () => {
  const all = parseMountinfo(SAMPLE);
  // 9 and 2 are prefixes of other ids and fields: only a whole leading id matches.
  for (const id of [22, 90, 93, 9, 2, 1, 252]) {
    assertEquals(findMountByIdIn(SAMPLE, id), all.find((e) => e.id === id), `id ${id}`);
  }
});

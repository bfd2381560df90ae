import { assert, assertEquals } from "../testing/assert.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { parseBinds, VolumeBinder } from "./volume_binds.ts";

const binds = [
  { subdir: "pvc-a", target: "/jfs/a", readOnly: false },
  { subdir: "", target: "/jfs/root", readOnly: true },
];

Deno.test("volume binds: nothing before the mount, then each subdirectory bound once", async () => {
  const m = new FakeMounter();
  const b = new VolumeBinder("/var/lib/csi-jfs/fs", binds, {
    mounter: m,
    exists: () => Promise.resolve(true),
  });
  assertEquals(await b.ensure(), false, "no client mount yet");
  m.addMount("/var/lib/csi-jfs/fs");
  assertEquals(await b.ensure(), true);
  assertEquals(await b.ensure(), true);
  assertEquals(m.actions, ["bind /var/lib/csi-jfs/fs/pvc-a /jfs/a", "bind /var/lib/csi-jfs/fs /jfs/root ro"]);
  const a = (await m.list()).find((e) => e.mountPoint === "/jfs/a");
  assertEquals(a?.root, "/pvc-a");
});

Deno.test("volume binds: a bind of a dead earlier mount is replaced; release unmounts the binds", async () => {
  const m = new FakeMounter();
  const b = new VolumeBinder("/fs", binds.slice(0, 1), { mounter: m, exists: () => Promise.resolve(true) });
  m.addMount("/fs", "fuse.juicefs", "0:50");
  await b.ensure();
  m.entries = m.entries.filter((e) => e.mountPoint !== "/fs");
  m.addMount("/fs", "fuse.juicefs", "0:51");
  m.actions = [];
  assertEquals(await b.ensure(), true);
  assertEquals(m.actions, ["umount -l /jfs/a", "bind /fs/pvc-a /jfs/a"]);
  await b.release();
  assert(!(await m.list()).some((e) => e.mountPoint === "/jfs/a"));
});

Deno.test("volume binds: the emptyDir kubelet mounted at the target stays, the bind goes on top", async () => {
  const m = new FakeMounter();
  m.addMount("/fs", "fuse.juicefs", "0:50");
  m.addMount("/jfs/a", "ext4", "254:0");
  const b = new VolumeBinder("/fs", binds.slice(0, 1), { mounter: m, exists: () => Promise.resolve(true) });
  assertEquals(await b.ensure(), true);
  assertEquals(m.actions, ["bind /fs/pvc-a /jfs/a"]);
});

Deno.test("volume binds: a missing directory is not bound and keeps the probe failing", async () => {
  const m = new FakeMounter();
  m.addMount("/fs");
  const b = new VolumeBinder("/fs", binds.slice(0, 1), { mounter: m, exists: () => Promise.resolve(false) });
  assertEquals(await b.ensure(), false);
  assertEquals(m.actions, []);
});

Deno.test("volume binds: the env list is checked", () => {
  assertEquals(parseBinds(undefined), []);
  assertEquals(parseBinds(JSON.stringify(binds)), binds);
  for (
    const bad of [
      "{}",
      '[{"subdir":"../x","target":"/a"}]',
      '[{"subdir":"a","target":"rel"}]',
      '[{"subdir":"a","target":"/a/../b"}]',
    ]
  ) {
    let threw = false;
    try {
      parseBinds(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

// The node binds only what it opened without links and checked, and takes off only mounts of
// the volume named (issue 11 items 1, 6, 7, 16), on the fake mount table over temp dirs.
import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import type { MountEntry } from "../mount/mountinfo.ts";
import type { BindOptions } from "../mount/mounter.ts";
import type { PathFd } from "../fs/beneath.ts";
import { binds, DiskFakeMounter, exists, VOL, volId, withNode } from "./node_test_env.ts";

const unstageOf = (id: string, path: string) => ({ volume_id: id, staging_target_path: path });

Deno.test("node: a volume directory that is (or lies under) a link is never bound", async () => {
  await withNode(async ({ stage, backend, mounter, dir }) => {
    await stage(); // starts the client
    const client = backend.mountPathOf(backend.started[0]!);
    const host = join(dir, "host");
    await Deno.mkdir(join(host, "x"), { recursive: true });
    await Deno.symlink(host, join(client, "linked"));
    await Deno.symlink(host, join(client, "parent-link"));
    for (const sub of ["linked", "parent-link/x"]) {
      await assertCodedError(
        () => stage({ volume_id: volId(sub), staging_target_path: join(dir, `s-${sub.length}`) }),
        Code.FAILED_PRECONDITION,
        /volume directory .* of "myfs" is or lies under a symbolic link/,
      );
    }
    assertEquals(binds(mounter).length, 1, "only the first, legitimate stage bound anything");
  }, ["pvc-1"]);
});

/** A mount table where the bind shows another root than asked (a rename raced it). */
class RacedMounter extends DiskFakeMounter {
  override async bindFd(source: PathFd, target: PathFd, opts: BindOptions = {}): Promise<MountEntry> {
    const e = await super.bindFd(source, target, opts);
    const last = this.entries[this.entries.length - 1]!;
    last.root = "/swap-link";
    return { ...e, root: last.root };
  }
}

Deno.test("node: a bind that shows another directory than the volume's is detached and refused", async () => {
  await withNode(
    async ({ stage, mounter, staging }) => {
      await assertCodedError(() => stage(), Code.FAILED_PRECONDITION, /changed while it was being mounted/);
      assert(mounter.actions.includes(`umount -l ${staging()}`), mounter.actions.join("; "));
      assertEquals(mounter.entries.filter((e) => e.mountPoint === staging()), []);
    },
    undefined,
    new RacedMounter(),
  );
});

Deno.test("node: unstage and unpublish take off only the named volume's mounts from our clients", async () => {
  await withNode(async ({ node, stage, publish, mounter, staging, target, dir }) => {
    await stage();
    await stage({ volume_id: volId("pvc-2"), staging_target_path: staging(2) });
    await publish();
    const foreignFuse = join(dir, "foreign-fuse");
    await Deno.mkdir(foreignFuse);
    mounter.addMount(foreignFuse, "fuse.juicefs", "0:999"); // a client that is not the node's
    const before = mounter.entries.length;
    const refused: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        "another volume's staging path",
        () => node.NodeUnstageVolume(unstageOf(VOL, staging(2))),
        /holds directory \/pvc-2 of the file system, not volume|holds volume .*pvc-2, not/,
      ],
      [
        "a JuiceFS mount of a client not the node's",
        () => node.NodeUnstageVolume(unstageOf(VOL, foreignFuse)),
        /none of this node's clients serves/,
      ],
      [
        "a target with another volume's id",
        () => node.NodeUnpublishVolume({ volume_id: volId("pvc-2"), target_path: target() }),
        /holds volume .*pvc-1, not .*pvc-2/,
      ],
      [
        "a foreign client's mount as a target",
        () => node.NodeUnpublishVolume({ volume_id: VOL, target_path: foreignFuse }),
        /none of this node's clients serves/,
      ],
    ];
    for (const [name, fn, re] of refused) {
      const e = await assertCodedError(fn, Code.FAILED_PRECONDITION, re);
      assertMatch(e.message, /nothing changed/, name);
    }
    assertEquals(mounter.entries.length, before, "no mount came off");
    for (const p of [staging(), staging(2), target(), foreignFuse]) assert(await exists(p), `${p} stays`);
    // The right ids still work.
    await node.NodeUnpublishVolume({ volume_id: VOL, target_path: target() });
    await node.NodeUnstageVolume(unstageOf(volId("pvc-2"), staging(2)));
  });
});

Deno.test("node: a volume bound and then renamed by a tenant still unstages", async () => {
  await withNode(async ({ node, stage, mounter, staging }) => {
    await stage();
    mounter.entries.find((e) => e.mountPoint === staging())!.root = "/renamed-by-tenant";
    await node.NodeUnstageVolume(unstageOf(VOL, staging()));
    assertEquals(mounter.entries.filter((e) => e.mountPoint === staging()), []);
  });
});

Deno.test("node: a dead JuiceFS bind of the volume comes off even if its client was replaced", async () => {
  await withNode(async ({ node, mounter, staging }) => {
    await Deno.mkdir(staging());
    const e = mounter.addMount(staging(), "fuse.juicefs", "0:555");
    e.root = "/pvc-1";
    mounter.healthOf.set(staging(), "corrupted");
    await node.NodeUnstageVolume(unstageOf(VOL, staging()));
    assertEquals(mounter.actions.at(-1), `umount -l ${staging()}`);
  });
});

Deno.test("node: a path component over 255 bytes is INVALID_ARGUMENT in every RPC", async () => {
  await withNode(async ({ node, stage, publish, dir, mounter }) => {
    const long = join(dir, "x".repeat(256));
    const calls: Array<() => Promise<unknown>> = [
      () => stage({ staging_target_path: long }),
      () => publish({ target_path: join(long, "vol") }),
      () => node.NodeUnstageVolume(unstageOf(VOL, long)),
      () => node.NodeUnpublishVolume({ volume_id: VOL, target_path: long }),
      () => node.NodeGetVolumeStats({ volume_id: VOL, volume_path: long, staging_target_path: "" }),
    ];
    for (const fn of calls) await assertCodedError(fn, Code.INVALID_ARGUMENT, /component of 256 bytes/);
    assertEquals(mounter.actions, []);
  });
});

Deno.test("node: stage and publish detach only broken mounts of their own volume", async () => {
  await withNode(async ({ stage, publish, mounter, staging, target }) => {
    for (const [fsType, root] of [["fuse.sshfs", "/"], ["fuse.juicefs", "/someone-else"]] as const) {
      const e = mounter.addMount(staging(), fsType, "0:777");
      e.root = root;
      mounter.healthOf.set(staging(), "corrupted");
      await assertCodedError(() => stage(), Code.ALREADY_EXISTS, /already holds another mount/);
      assertEquals(mounter.actions.filter((a) => a.startsWith("umount")), [], `${fsType}${root} stays`);
      mounter.entries.splice(mounter.entries.indexOf(e), 1);
      mounter.healthOf.delete(staging());
    }
    // A dead bind of this very volume is cleaned and staged again, and likewise at a target.
    const dead = mounter.addMount(staging(), "fuse.juicefs", "0:778");
    dead.root = "/pvc-1";
    mounter.healthOf.set(staging(), "corrupted");
    await stage();
    assert(mounter.actions.includes(`umount -l ${staging()}`));
    await publish();
    mounter.healthOf.set(target(), "corrupted");
    await publish();
    assert(mounter.actions.includes(`umount -l ${target()}`));
  });
});

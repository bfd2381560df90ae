import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { ControllerService } from "./controller.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeRunner } from "../exec.ts";
import { JuiceFsCli } from "../juicefs/cli.ts";
import { AdminMounts } from "../clients/admin_mounts.ts";
import { KeyedLocks } from "../locks.ts";
import { CopyCloner } from "../testing/copy_cloner.ts";
import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";
import type { VolumeContentSource__Output } from "./generated/csi/v1/VolumeContentSource.ts";

const GI = 1n << 30n;
const SECRETS = { name: "myfs", metaurl: "sqlite3:///tmp/none.db", storage: "file", bucket: "/tmp/none/" };
const CAP = {
  mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
  access_mode: { mode: "MULTI_NODE_MULTI_WRITER" as const },
  access_type: "mount" as const,
};

interface Env {
  root: string;
  ctl: ControllerService;
  cloner: CopyCloner;
  create: (name: string, over?: Partial<CreateVolumeRequest__Output>) => Promise<string>;
  snap: (name: string, source: string) => Promise<string>;
}

const fromSnapshot = (id: string): VolumeContentSource__Output => ({
  snapshot: { snapshot_id: id },
  type: "snapshot",
});
const fromVolume = (id: string): VolumeContentSource__Output => ({
  volume: { volume_id: id },
  type: "volume",
});

async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "snapshots_test" });
  try {
    const runner = new FakeRunner()
      .on(/^juicefs status /, () => ({ stdout: JSON.stringify({ Setting: { Name: "myfs" } }) }))
      .on(/^juicefs quota set /, (c) => {
        Deno.mkdirSync(join(root, c.args[c.args.indexOf("--path") + 1] ?? ""), { recursive: true });
        return {};
      })
      .on(/^juicefs rmr /, (c) => {
        Deno.removeSync(c.args[1] ?? "", { recursive: true });
        return {};
      });
    const cli = new JuiceFsCli(runner);
    const admin = new AdminMounts(new FakeBackend({ root }), cli, 0);
    const cloner = new CopyCloner();
    const ctl = new ControllerService({ admin, cli, locks: new KeyedLocks(), cloner });
    const create = async (name: string, over: Partial<CreateVolumeRequest__Output> = {}) =>
      (await ctl.CreateVolume({
        name,
        capacity_range: { required_bytes: String(GI), limit_bytes: "" },
        volume_capabilities: [CAP],
        parameters: {},
        secrets: SECRETS,
        volume_content_source: null,
        accessibility_requirements: null,
        mutable_parameters: {},
        ...over,
      })).volume?.volume_id ?? "";
    const snap = async (name: string, source: string) =>
      (await ctl.CreateSnapshot({ name, source_volume_id: source, secrets: SECRETS, parameters: {} }))
        .snapshot
        ?.snapshot_id ?? "";
    await fn({ root, ctl, cloner, create, snap });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const read = (p: string) => Deno.readTextFile(p);
const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);
const list = (p: string) => Array.fromAsync(Deno.readDir(p)).then((es) => es.map((e) => e.name).sort());

Deno.test("snapshots: a snapshot keeps the old bytes; restores and clones get them back", async () => {
  await withEnv(async ({ root, ctl, create, snap }) => {
    const vol = await create("pvc-a");
    await Deno.writeTextFile(join(root, "pvc-a/data"), "old");
    const id = await snap("snap-1", vol);
    assertEquals(id, "jfs1s/myfs/snap-1");
    assertEquals(await snap("snap-1", vol), id, "the same name and source again is the same snapshot");
    await Deno.writeTextFile(join(root, "pvc-a/data"), "new");
    assertEquals(await read(join(root, ".csi-jfs/snapshots/snap-1.tree/data")), "old");
    assertEquals((await Deno.stat(join(root, ".csi-jfs/snapshots"))).mode! & 0o777, 0o700);

    const restored = await ctl.CreateVolume({
      name: "pvc-r",
      capacity_range: { required_bytes: String(2n * GI), limit_bytes: "" },
      volume_capabilities: [CAP],
      parameters: {},
      secrets: SECRETS,
      volume_content_source: fromSnapshot(id),
      accessibility_requirements: null,
      mutable_parameters: {},
    });
    assertEquals(restored.volume?.content_source?.snapshot?.snapshot_id, id);
    assertEquals(restored.volume?.capacity_bytes, String(2n * GI));
    assertEquals(await read(join(root, "pvc-r/data")), "old");
    assertEquals((await Deno.stat(join(root, "pvc-r"))).mode! & 0o777, 0o777);

    await create("pvc-c", { volume_content_source: fromVolume(vol) });
    assertEquals(await read(join(root, "pvc-c/data")), "new");
    // The same request again is the same volume; another source under that name is not.
    await create("pvc-c", { volume_content_source: fromVolume(vol) });
    await assertCodedError(
      () => create("pvc-c", { volume_content_source: fromVolume(`jfs1/myfs/delete/pvc-c`) }),
      Code.INVALID_ARGUMENT,
      /cannot be cloned from itself/,
    );
    await assertCodedError(
      () => create("pvc-c", { volume_content_source: fromSnapshot(id) }),
      Code.ALREADY_EXISTS,
      /another content source/,
    );
    assertEquals(await list(join(root, ".csi-jfs/tmp")), [], "no clone is left half made");
  });
});

Deno.test("snapshots: same name, another source is ALREADY_EXISTS; bad requests have their codes", async () => {
  await withEnv(async ({ ctl, create, snap }) => {
    const a = await create("pvc-a");
    const b = await create("pvc-b");
    await snap("s", a);
    await assertCodedError(() => snap("s", b), Code.ALREADY_EXISTS, /another source volume/);
    await assertCodedError(() => snap("", a), Code.INVALID_ARGUMENT, /name is required/);
    await assertCodedError(() => snap("t", ""), Code.INVALID_ARGUMENT, /source_volume_id is required/);
    await assertCodedError(() => snap("t", "jfs1/myfs/delete/nope"), Code.NOT_FOUND, /does not exist/);
    await assertCodedError(() => snap("t", "garbage"), Code.NOT_FOUND, /does not exist/);
    await assertCodedError(
      () => ctl.CreateSnapshot({ name: "t", source_volume_id: a, secrets: SECRETS, parameters: { x: "1" } }),
      Code.INVALID_ARGUMENT,
      /unknown VolumeSnapshotClass parameter/,
    );
    await assertCodedError(
      () => create("pvc-x", { volume_content_source: fromSnapshot("jfs1s/myfs/none") }),
      Code.NOT_FOUND,
      /source snapshot .* does not exist/,
    );
    await assertCodedError(
      () => create("pvc-x", { volume_content_source: fromSnapshot("non-existing-snapshot-id") }),
      Code.NOT_FOUND,
    );
    await assertCodedError(
      () =>
        create("pvc-x", {
          volume_content_source: fromSnapshot("jfs1s/myfs/s"),
          capacity_range: { required_bytes: String(GI / 2n), limit_bytes: "" },
        }),
      Code.OUT_OF_RANGE,
      /needs at least that/,
    );
  });
});

Deno.test("snapshots: a clone that fails midway leaves nothing, and a retry succeeds", async () => {
  await withEnv(async ({ root, cloner, create, snap }) => {
    const vol = await create("pvc-a");
    await Deno.writeTextFile(join(root, "pvc-a/data"), "x");
    cloner.failNext = true;
    await snap("s", vol).then(() => assert(false, "the failed clone succeeded"), () => {});
    assert(!(await exists(join(root, ".csi-jfs/snapshots/s.tree"))));
    assertEquals(await list(join(root, ".csi-jfs/tmp")), []);
    const id = await snap("s", vol);
    assertEquals(await read(join(root, ".csi-jfs/snapshots/s.tree/data")), "x");

    cloner.failNext = true;
    await create("pvc-r", { volume_content_source: fromSnapshot(id) }).then(
      () => assert(false, "the failed clone succeeded"),
      () => {},
    );
    assert(!(await exists(join(root, "pvc-r"))), "no half-made volume");
    assertEquals(await list(join(root, ".csi-jfs/tmp")), []);
    await create("pvc-r", { volume_content_source: fromSnapshot(id) });
    assertEquals(await list(join(root, "pvc-r")), ["data"]);
  });
});

Deno.test("snapshots: DeleteSnapshot removes tree and record; restores outlive snapshot and source", async () => {
  await withEnv(async ({ root, ctl, create, snap }) => {
    const vol = await create("pvc-a");
    await Deno.writeTextFile(join(root, "pvc-a/data"), "old");
    const id = await snap("s", vol);
    await create("pvc-r", { volume_content_source: fromSnapshot(id) });
    await ctl.DeleteSnapshot({ snapshot_id: id, secrets: SECRETS });
    await ctl.DeleteSnapshot({ snapshot_id: id, secrets: SECRETS });
    await ctl.DeleteSnapshot({ snapshot_id: "reallyfakesnapshotid", secrets: SECRETS });
    await assertCodedError(
      () => ctl.DeleteSnapshot({ snapshot_id: "", secrets: SECRETS }),
      Code.INVALID_ARGUMENT,
    );
    assertEquals(await list(join(root, ".csi-jfs/snapshots")), []);
    await ctl.DeleteVolume({ volume_id: vol, secrets: SECRETS });
    assertEquals(await read(join(root, "pvc-r/data")), "old");
    assertEquals((await ctl.ListSnapshots({ secrets: SECRETS } as never)).entries, []);
  });
});

Deno.test("snapshots: ListSnapshots filters by id and source, pages; ListVolumes and GetCapacity", async () => {
  await withEnv(async ({ ctl, create, snap }) => {
    const vols = [await create("v1"), await create("v2"), await create("v3")];
    const ids = [await snap("s1", vols[0]!), await snap("s2", vols[1]!), await snap("s3", vols[2]!)];
    const ls = (over: Record<string, unknown>) =>
      ctl.ListSnapshots(
        {
          secrets: SECRETS,
          max_entries: 0,
          starting_token: "",
          snapshot_id: "",
          source_volume_id: "",
          ...over,
        } as never,
      );
    assertEquals((await ls({})).entries?.length, 3);
    assertEquals((await ls({ snapshot_id: ids[1] })).entries?.map((e) => e.snapshot?.snapshot_id), [ids[1]]);
    assertEquals((await ls({ snapshot_id: "none-exist-id" })).entries, []);
    assertEquals((await ls({ source_volume_id: vols[2] })).entries?.map((e) => e.snapshot?.snapshot_id), [
      ids[2],
    ]);
    const p1 = await ls({ max_entries: 2 });
    assertEquals(p1.entries?.length, 2);
    const p2 = await ls({ starting_token: p1.next_token });
    assertEquals(p2.entries?.map((e) => e.snapshot?.snapshot_id), [ids[2]]);
    assertEquals(p2.next_token, "");
    await assertCodedError(() => ls({ starting_token: "invalid-token" }), Code.ABORTED);
    // No secrets: the file systems this controller served.
    assertEquals((await ls({ secrets: {} })).entries?.length, 3);

    const lv = (over: Record<string, unknown>) =>
      ctl.ListVolumes({ max_entries: 0, starting_token: "", ...over } as never);
    const all = (await lv({})).entries?.map((e) => e.volume?.volume_id);
    assertEquals(all, [...vols].sort());
    const v1 = await lv({ max_entries: 1 });
    assertMatch(v1.next_token ?? "", /^k1:/);
    // The next page starts after the last entry even when that entry is deleted meanwhile.
    await ctl.DeleteVolume({ volume_id: v1.entries![0]!.volume!.volume_id!, secrets: SECRETS });
    assertEquals((await lv({ starting_token: v1.next_token })).entries?.length, 2);
    await assertCodedError(() => lv({ starting_token: "invalid-token" }), Code.ABORTED);
    const cap = await ctl.GetCapacity();
    assert(BigInt(cap.available_capacity as string) > 0n);
  });
});

Deno.test("ModifyVolume: onDelete changes what DeleteVolume does; anything else is refused", async () => {
  await withEnv(async ({ root, ctl, create }) => {
    const id = await create("pvc-m");
    const modify = (over: Record<string, unknown>) =>
      ctl.ControllerModifyVolume(
        { volume_id: id, secrets: SECRETS, mutable_parameters: {}, ...over } as never,
      );
    await assertCodedError(() => modify({ volume_id: "" }), Code.INVALID_ARGUMENT, /volume_id is required/);
    await assertCodedError(() => modify({ mutable_parameters: { XXX_FakeKey: "x" } }), Code.INVALID_ARGUMENT);
    await assertCodedError(
      () => modify({ mutable_parameters: { onDelete: "shred" } }),
      Code.INVALID_ARGUMENT,
    );
    await assertCodedError(() => modify({ volume_id: "non-existing-volume-id" }), Code.NOT_FOUND);
    await assertCodedError(() => modify({ volume_id: "jfs1/myfs/delete/never" }), Code.NOT_FOUND);
    await assertCodedError(
      () => modify({ volume_id: "jfs1/otherfs/delete/x", secrets: {} }),
      Code.FAILED_PRECONDITION,
      /has not served file system "otherfs"/,
    );
    // As csi-resizer sends it: no secrets; the file system is one this controller served.
    await modify({ mutable_parameters: { onDelete: "retain" }, secrets: {} });
    const listed = (await ctl.ListVolumes({ max_entries: 0, starting_token: "" } as never)).entries;
    assertEquals(listed?.map((e) => e.volume?.volume_id), [id], "the id stays the one CreateVolume gave");
    await ctl.DeleteVolume({ volume_id: id, secrets: SECRETS });
    assert(await exists(join(root, "pvc-m")), "retained, as the modified record says");
    // At creation, a VolumeAttributesClass's onDelete is the one recorded.
    const id2 = await create("pvc-n", { mutable_parameters: { onDelete: "retain" } });
    assertMatch(id2, /^jfs1\/myfs\/retain\//);
    await assertCodedError(
      () => create("pvc-o", { mutable_parameters: { nope: "1" } }),
      Code.INVALID_ARGUMENT,
    );
  });
});

import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { BLOCK, CAP, count, exists, GI, idOf, SECRETS, withController } from "./controller_test_env.ts";
import { join } from "node:path";

Deno.test("controller: DeleteVolume of foreign or malformed ids succeeds and runs nothing", async () => {
  await withController(async ({ ctl, runner }) => {
    for (
      const volume_id of ["static-pv", "jfs1/myfs/purge/x", "jfs1/myfs/delete/../etc", "jfs1/X/delete/a"]
    ) {
      assertEquals(await ctl.DeleteVolume({ volume_id, secrets: SECRETS }), {});
    }
    assertEquals(runner.calls, []);
    await assertCodedError(
      () => ctl.DeleteVolume({ volume_id: "", secrets: SECRETS }),
      Code.INVALID_ARGUMENT,
    );
    await assertCodedError(
      () => ctl.DeleteVolume({ volume_id: idOf("a"), secrets: { ...SECRETS, name: "otherfs" } }),
      Code.INVALID_ARGUMENT,
      /belongs to file system "myfs" but the secrets describe "otherfs"/,
    );
  });
});

Deno.test("controller: DeleteVolume applies delete, retain and archive; twice is fine", async () => {
  await withController(async ({ createId, ctl, runner, root }) => {
    const made: Record<string, string> = {};
    for (const policy of ["delete", "retain", "archive"]) {
      made[policy] = await createId({ name: `v-${policy}`, parameters: { onDelete: policy } });
      await Deno.writeTextFile(join(root, `v-${policy}`, "data.txt"), "hello");
    }
    const del = (id: string) => ctl.DeleteVolume({ volume_id: id, secrets: SECRETS });
    await del(made["delete"]!);
    assertMatch(
      runner.commandLines().at(-1)!,
      new RegExp(`^juicefs rmr /proc/${Deno.pid}/fd/\\d+/v-delete$`),
    );
    assert(!(await exists(join(root, "v-delete"))), "deleted");
    await del(made["retain"]!);
    assertEquals(await Deno.readTextFile(join(root, "v-retain/data.txt")), "hello");
    await del(made["archive"]!);
    assert(!(await exists(join(root, "v-archive"))), "moved away");
    const archived = join(root, ".csi-jfs/archive/v-archive-2024-05-06T07-08-09-010Z/data.txt");
    assertEquals(await Deno.readTextFile(archived), "hello");
    for (const p of ["delete", "retain", "archive"]) {
      assert(!(await exists(join(root, `.csi-jfs/volumes/v-${p}.json`))), `record of ${p} removed`);
    }
    const n = runner.calls.length;
    for (const id of Object.values(made)) await del(id);
    assertEquals(runner.calls.length, n, "a second delete runs nothing");
  });
});

Deno.test("controller: DeleteVolume on a never-formatted file system is success", async () => {
  await withController(async ({ ctl, runner, backend, fs }) => {
    fs.formatted = false;
    assertEquals(await ctl.DeleteVolume({ volume_id: idOf("pvc-1"), secrets: SECRETS }), {});
    assertEquals(runner.commandLines(), ["juicefs status redis://user@redis:6379/1"]);
    assertEquals(backend.ensured, []);
  });
});

Deno.test("controller: expansion raises the quota and never shrinks", async () => {
  await withController(async ({ createId, ctl, runner, root }) => {
    const id = await createId();
    const expand = (bytes: bigint | null) =>
      ctl.ControllerExpandVolume({
        volume_id: id,
        capacity_range: bytes === null ? null : { required_bytes: String(bytes), limit_bytes: "" },
        secrets: SECRETS,
        volume_capability: CAP,
      });
    assertEquals(await expand(3n * GI), { capacity_bytes: String(3n * GI), node_expansion_required: false });
    assertEquals(
      runner.commandLines().at(-1),
      `juicefs quota set redis://user@redis:6379/1 --path /pvc-1 --create --capacity ${3n * GI}B`,
    );
    const rec = JSON.parse(await Deno.readTextFile(join(root, ".csi-jfs/volumes/pvc-1.json")));
    assertEquals([rec.name, rec.capacityBytes], ["pvc-1", String(3n * GI)]);
    const n = count(runner, /quota set/);
    assertEquals((await expand(GI)).capacity_bytes, String(3n * GI), "smaller: keeps the larger quota");
    assertEquals((await expand(3n * GI)).capacity_bytes, String(3n * GI));
    assertEquals(count(runner, /quota set/), n);
    await assertCodedError(() => expand(null), Code.INVALID_ARGUMENT, /capacity_range is required/);
    await assertCodedError(
      () => expand(0n),
      Code.INVALID_ARGUMENT,
      /must give required_bytes or limit_bytes/,
    );
    const other = (volume_id: string) =>
      ctl.ControllerExpandVolume({
        volume_id,
        capacity_range: { required_bytes: String(GI), limit_bytes: "" },
        secrets: SECRETS,
        volume_capability: CAP,
      });
    await assertCodedError(() => other("static-pv"), Code.NOT_FOUND, /volume "static-pv" does not exist/);
    await assertCodedError(() => other(idOf("missing")), Code.NOT_FOUND, /does not exist/);
  });
});

Deno.test("controller: ValidateVolumeCapabilities", async () => {
  await withController(async ({ createId, ctl }) => {
    const id = await createId();
    const validate = (volume_id: string, caps = [CAP], secrets: Record<string, string> = SECRETS) =>
      ctl.ValidateVolumeCapabilities({
        volume_id,
        volume_capabilities: caps,
        volume_context: { subdir: "pvc-1" },
        parameters: {},
        mutable_parameters: {},
        secrets,
      });
    await assertCodedError(() => validate("static-pv"), Code.NOT_FOUND, /"static-pv" does not exist/);
    await assertCodedError(() => validate(idOf("missing")), Code.NOT_FOUND, /does not exist/);
    await assertCodedError(() => validate(id, []), Code.INVALID_ARGUMENT, /volume_capabilities is required/);
    await assertCodedError(() => validate("", [CAP]), Code.INVALID_ARGUMENT, /volume_id is required/);
    const ok = await validate(id);
    assertEquals(ok.confirmed?.volume_capabilities, [CAP]);
    assertEquals(ok.confirmed?.volume_context, { subdir: "pvc-1" });
    const block = await validate(id, [CAP, BLOCK]);
    assertEquals(block.confirmed, undefined);
    assertMatch(block.message ?? "", /block volumes are not supported/);
    assert((await validate(id, [CAP], {})).confirmed, "without secrets: no lookup, confirmed");
  });
});

Deno.test("controller: concurrent CreateVolume of one name: one succeeds, the other is ABORTED", async () => {
  await withController(async ({ create, runner }) => {
    const results = await Promise.allSettled([create(), create()]);
    assertEquals(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    await assertCodedError(
      () => Promise.reject(rejected.reason),
      Code.ABORTED,
      /\/pvc-1 is already in progress/,
    );
    assertEquals(count(runner, /quota set/), 1);
  });
});

Deno.test("controller: a warm CreateVolume neither re-checks nor remounts the file system", async () => {
  await withController(async ({ create, runner, backend }) => {
    await create({ name: "pvc-1" });
    await create({ name: "pvc-2" });
    await create({ name: "pvc-3" });
    assertEquals(count(runner, /^juicefs status/), 1);
    assertEquals(backend.ensured.length, 3, "the backend is asked once per call");
    assertEquals(backend.started.length, 1, "and mounts once");
  });
});

// A chart creating several PVCs at once on a new file system: one status, one format.
Deno.test("controller: concurrent first CreateVolumes format a new file system once", async () => {
  await withController(async ({ create, runner, fs }) => {
    fs.formatted = false;
    await Promise.all([create({ name: "pvc-1" }), create({ name: "pvc-2" }), create({ name: "pvc-3" })]);
    assertEquals(count(runner, /^juicefs format/), 1);
    assertEquals(count(runner, /^juicefs status/), 1);
    assertEquals(count(runner, /^juicefs quota set/), 3);
  });
});

Deno.test("controller: capabilities", async () => {
  await withController(async ({ ctl }) => {
    const types = (await ctl.ControllerGetCapabilities()).capabilities?.map((c) => c.rpc?.type);
    assertEquals(types, [
      "CREATE_DELETE_VOLUME",
      "EXPAND_VOLUME",
      "SINGLE_NODE_MULTI_WRITER",
      "CREATE_DELETE_SNAPSHOT",
      "LIST_SNAPSHOTS",
      "CLONE_VOLUME",
      "LIST_VOLUMES",
      "GET_CAPACITY",
      "MODIFY_VOLUME",
    ]);
  });
});

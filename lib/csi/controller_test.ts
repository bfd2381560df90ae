import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import {
  ACCESS,
  BLOCK,
  CAP,
  count,
  exists,
  GI,
  idOf,
  NOW,
  PASSWORD,
  SECRET,
  SECRETS,
  SECRETS_NO_STORAGE,
  withController,
} from "./controller_test_env.ts";
import { join } from "node:path";

Deno.test("controller: CreateVolume refuses bad requests with INVALID_ARGUMENT and runs nothing", async () => {
  await withController(async ({ create, runner, backend }) => {
    const cases: Array<[Partial<CreateVolumeRequest__Output>, RegExp]> = [
      [{ name: "" }, /name is required/],
      [{ name: "a\0b" }, /contains NUL/],
      [{ name: "x".repeat(256) }, /longer than 255/],
      [{ volume_capabilities: [] }, /volume_capabilities is required/],
      [{ volume_capabilities: [BLOCK] }, /volume_capabilities\[0\]: block volumes are not supported/],
      [{ parameters: { fsType: "ext4" } }, /parameter "fsType" is not known/],
      [{ parameters: { onDelete: "purge" } }, /onDelete must be one of delete, retain, archive/],
      [
        { parameters: { pathPattern: "../escape" } },
        /pathPattern rendered to "\.\.\/escape" has a "\.\." segment/,
      ],
      [{ parameters: { pathPattern: "${pvc.uid}" } }, /unknown variable \$\{pvc.uid\}/],
      [{ parameters: { pathPattern: "${pvc.name}" } }, /run csi-provisioner with --extra-create-metadata/],
      [{ name: "a/b" }, /must not contain "\/"/],
      [{ secrets: {} }, /secrets are required/],
      [{ secrets: { ...SECRETS, name: "Bad_Name" } }, /secret key "name" must be a JuiceFS volume name/],
      [{ secrets: { ...SECRETS, metaurl: "" } }, /secret key "metaurl" is required/],
      [{ secrets: { ...SECRETS, token: "x" } }, /secret key "token" is not known/],
      [{ capacity_range: { required_bytes: "-5", limit_bytes: "" } }, /must not be negative/],
      [
        { volume_content_source: { snapshot: { snapshot_id: "jfs1s/otherfs/snap" }, type: "snapshot" } },
        /source snapshot is in file system "otherfs" but the volume would be in "myfs"/,
      ],
      [
        { volume_content_source: { volume: { volume_id: "jfs1/otherfs/delete/v" }, type: "volume" } },
        /source volume is in file system "otherfs"/,
      ],
      [{ volume_content_source: { volume: { volume_id: "" }, type: "volume" } }, /volume_id is required/],
    ];
    for (const [over, re] of cases) {
      const err = await assertCodedError(() => create(over), Code.INVALID_ARGUMENT, re);
      for (const s of [PASSWORD, ACCESS, SECRET]) assert(!err.message.includes(s), `${re}: quotes a secret`);
    }
    assertEquals(runner.calls, []);
    assertEquals(backend.ensured, []);
  });
});

Deno.test("controller: CreateVolume makes the directory with a quota and a record", async () => {
  await withController(async ({ create, runner, root }) => {
    const res = await create({ parameters: { mountOptions: "cache-size=0" } });
    assertEquals(res.volume, {
      volume_id: idOf("pvc-1"),
      capacity_bytes: String(GI),
      volume_context: { subdir: "pvc-1", mountOptions: "cache-size=0" },
    });
    assertEquals(runner.commandLines(), [
      "juicefs status redis://user@redis:6379/1",
      `juicefs quota set redis://user@redis:6379/1 --path /pvc-1 --create --capacity ${GI}B`,
    ]);
    assertEquals((await Deno.stat(join(root, "pvc-1"))).mode! & 0o777, 0o777);
    const rec = JSON.parse(await Deno.readTextFile(join(root, ".csi-jfs/volumes/pvc-1.json")));
    const ino = String((await Deno.lstat(join(root, "pvc-1"))).ino);
    assertEquals(rec, {
      name: "pvc-1",
      subdir: "pvc-1",
      capacityBytes: String(GI),
      createdAt: NOW.toISOString(),
      onDelete: "delete",
      volumeId: idOf("pvc-1"),
      state: "ready",
      ino,
    });
    // The driver's metadata tree: closed to tenants.
    for (
      const [path, mode] of [[".csi-jfs", 0o700], [".csi-jfs/volumes", 0o700], [
        ".csi-jfs/volumes/pvc-1.json",
        0o600,
      ]] as const
    ) {
      assertEquals((await Deno.lstat(join(root, path))).mode! & 0o7777, mode, path);
    }
  });
});

Deno.test("controller: CreateVolume never adopts a directory it did not make", async () => {
  await withController(async ({ create, runner, root }) => {
    await Deno.mkdir(join(root, "pvc-1"), { mode: 0o700 });
    await Deno.chmod(join(root, "pvc-1"), 0o700);
    await assertCodedError(
      () => create(),
      Code.ALREADY_EXISTS,
      /\/pvc-1 already exists and was not made by this driver.*static PersistentVolume/,
    );
    assertEquals((await Deno.lstat(join(root, "pvc-1"))).mode! & 0o7777, 0o700, "mode unchanged");
    assertEquals(count(runner, /quota set/), 0);
    assert(!(await exists(join(root, ".csi-jfs/volumes/pvc-1.json"))), "no record");
  });
});

Deno.test("controller: a retry after a failed quota finishes the volume it recorded", async () => {
  await withController(async ({ create, runner, root }) => {
    runner.on(/^juicefs quota set /, () => ({ code: 1, stderr: "<FATAL>: meta is busy" }));
    await assertCodedError(() => create(), Code.UNAVAILABLE);
    const rec = JSON.parse(await Deno.readTextFile(join(root, ".csi-jfs/volumes/pvc-1.json")));
    assertEquals(rec.state, "creating");
    runner.on(/^juicefs quota set /, () => ({}));
    assertEquals((await create()).volume?.capacity_bytes, String(GI));
    assertEquals((await Deno.lstat(join(root, "pvc-1"))).mode! & 0o7777, 0o777);
  });
});

Deno.test("controller: the record's delete policy applies, whatever the id says", async () => {
  await withController(async ({ createId, ctl, root }) => {
    const id = await createId({ name: "v-kept", parameters: { onDelete: "retain" } });
    await Deno.writeTextFile(join(root, "v-kept/data.txt"), "hello");
    await ctl.DeleteVolume({ volume_id: id.replace("/retain/", "/delete/"), secrets: SECRETS });
    assertEquals(await Deno.readTextFile(join(root, "v-kept/data.txt")), "hello");
    // A record of an older version holds no policy: retained, whatever the id says.
    const legacy = await createId({ name: "v-old" });
    const recPath = join(root, ".csi-jfs/volumes/v-old.json");
    const { onDelete: _, ...old } = JSON.parse(await Deno.readTextFile(recPath));
    await Deno.writeTextFile(recPath, JSON.stringify(old));
    await ctl.DeleteVolume({ volume_id: legacy, secrets: SECRETS });
    assert(await exists(join(root, "v-old")), "a legacy record's volume is retained");
  });
});

Deno.test("controller: a link or a file in the metadata tree is FAILED_PRECONDITION", async () => {
  await withController(async ({ createId, create, ctl, root }) => {
    const id = await createId({ name: "v-1" });
    const host = await Deno.makeTempDir();
    try {
      await Deno.rename(join(root, ".csi-jfs/volumes"), join(root, "volumes.real"));
      await Deno.symlink(host, join(root, ".csi-jfs/volumes"));
      for (
        const call of [
          () => create({ name: "v-2" }),
          () => ctl.DeleteVolume({ volume_id: id, secrets: SECRETS }),
        ]
      ) {
        await assertCodedError(call, Code.FAILED_PRECONDITION, /symbolic link/);
      }
      assertEquals(await Array.fromAsync(Deno.readDir(host)), [], "nothing written to the host");
    } finally {
      await Deno.remove(host, { recursive: true });
    }
  });
});

Deno.test("controller: an unformatted file system is formatted only when the secret has storage", async () => {
  await withController(async ({ create, runner, fs }) => {
    fs.formatted = false;
    await assertCodedError(
      () => create({ secrets: SECRETS_NO_STORAGE }),
      Code.FAILED_PRECONDITION,
      /"myfs" at redis:\/\/user@redis:6379\/1 is not formatted and the secret has no "storage"/,
    );
    assertEquals(count(runner, /format/), 0);
    await create();
    assertEquals(runner.commandLines().filter((l) => / format /.test(l)), [
      "juicefs format --storage s3 --bucket https://bucket.s3.example redis://user@redis:6379/1 myfs",
    ]);
    assertEquals(count(runner, /quota set/), 1);
  });
});

Deno.test("controller: metadata holding another file system is FAILED_PRECONDITION", async () => {
  await withController(async ({ create, runner, fs }) => {
    fs.name = "otherfs";
    await assertCodedError(
      () => create(),
      Code.FAILED_PRECONDITION,
      /holds file system "otherfs".* is "myfs"/,
    );
    assertEquals(count(runner, /format|quota/), 0);
  });
});

Deno.test("controller: CreateVolume is idempotent on name and size, ALREADY_EXISTS otherwise", async () => {
  await withController(async ({ create, runner }) => {
    const first = await create();
    assertEquals(await create(), first);
    assertEquals(count(runner, /quota set/), 1, "no second quota set");
    await assertCodedError(
      () => create({ capacity_range: { required_bytes: String(2n * GI), limit_bytes: "" } }),
      Code.ALREADY_EXISTS,
      /volume "pvc-1" exists with capacity 1073741824 bytes/,
    );
    // A range the existing size fits is the same volume.
    const fits = await create({ capacity_range: { required_bytes: "1", limit_bytes: String(2n * GI) } });
    assertEquals(fits.volume?.capacity_bytes, String(GI));
  });
});

Deno.test("controller: two names rendering to one pathPattern directory is ALREADY_EXISTS", async () => {
  await withController(async ({ create }) => {
    const parameters = { pathPattern: "${pvc.namespace}-data", "csi.storage.k8s.io/pvc/namespace": "ns1" };
    const res = await create({ parameters });
    assertEquals(res.volume?.volume_id, idOf("ns1-data"));
    await assertCodedError(
      () => create({ name: "pvc-2", parameters }),
      Code.ALREADY_EXISTS,
      /directory \/ns1-data already belongs to volume "pvc-1"; make pathPattern unique/,
    );
  });
});

Deno.test("controller: secrets reach juicefs by env only, never argv", async () => {
  await withController(async ({ createId, ctl, runner, fs }) => {
    fs.formatted = false;
    const id = await createId({ parameters: { onDelete: "delete" } });
    const big = { required_bytes: String(4n * GI), limit_bytes: "" };
    await ctl.ControllerExpandVolume({
      volume_id: id,
      capacity_range: big,
      secrets: SECRETS,
      volume_capability: CAP,
    });
    await ctl.DeleteVolume({ volume_id: id, secrets: SECRETS });
    assertEquals(runner.calls.map((c) => c.args[0]), ["status", "format", "quota", "quota", "rmr"]);
    for (const c of runner.calls) {
      for (const s of [PASSWORD, ACCESS, SECRET]) {
        assert(!c.args.some((a) => a.includes(s)), `${c.args[0]} argv holds a secret`);
      }
      assertEquals(
        [c.env["META_PASSWORD"], c.env["ACCESS_KEY"], c.env["SECRET_KEY"]],
        [PASSWORD, ACCESS, SECRET],
        `${c.args[0]} env`,
      );
    }
  });
});

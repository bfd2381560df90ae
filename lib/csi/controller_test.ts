import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { ControllerService } from "./controller.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeRunner } from "../exec.ts";
import { JuiceFsCli } from "../juicefs/cli.ts";
import { AdminMounts } from "../clients/admin_mounts.ts";
import { KeyedLocks } from "../locks.ts";
import { encodeVolumeId } from "../volume_id.ts";
import type { VolumeCapability__Output } from "./generated/csi/v1/VolumeCapability.ts";
import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";

const GI = 1n << 30n;
const PASSWORD = "meta-pass-7781";
const ACCESS = "AKIA-access-5521";
const SECRET = "s3-secret-9932";
const SECRETS = {
  name: "myfs",
  metaurl: `redis://user:${PASSWORD}@redis:6379/1`,
  storage: "s3",
  bucket: "https://bucket.s3.example",
  "access-key": ACCESS,
  "secret-key": SECRET,
};
const { storage: _s, ...SECRETS_NO_STORAGE } = SECRETS;
const CAP: VolumeCapability__Output = {
  mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
  access_mode: { mode: "MULTI_NODE_MULTI_WRITER" },
  access_type: "mount",
};
const BLOCK: VolumeCapability__Output = { block: {}, access_mode: CAP.access_mode, access_type: "block" };
const NOW = new Date("2024-05-06T07:08:09.010Z");

interface Env {
  root: string;
  runner: FakeRunner;
  backend: FakeBackend;
  ctl: ControllerService;
  create: (over?: Partial<CreateVolumeRequest__Output>) => ReturnType<ControllerService["CreateVolume"]>;
  /** Creates and returns the volume id. */
  createId: (over?: Partial<CreateVolumeRequest__Output>) => Promise<string>;
  fs: { formatted: boolean; name: string };
}

async function withController(fn: (e: Env) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "controller_test" });
  try {
    const fs = { formatted: true, name: "myfs" };
    const runner = new FakeRunner()
      .on(
        /^juicefs status /,
        () =>
          fs.formatted
            ? { stdout: JSON.stringify({ Setting: { Name: fs.name } }) }
            : { code: 1, stderr: "2024/05/06 <FATAL>: load setting: database is not formatted" },
      )
      .on(/^juicefs format /, () => {
        fs.formatted = true;
        return {};
      })
      .on(/^juicefs quota set /, (c) => {
        // The real command creates the directory (--create); so does this one, in the temp dir.
        const path = c.args[c.args.indexOf("--path") + 1] ?? "";
        Deno.mkdirSync(join(root, path), { recursive: true });
        return {};
      })
      .on(/^juicefs quota get /, (c) => {
        const path = c.args[c.args.indexOf("--path") + 1] ?? "";
        if (exists_(join(root, path))) {
          return { code: 1, stderr: `<FATAL>: no quota for inode 2 path ${path}` };
        }
        return { code: 1, stderr: `<FATAL>: resolve dir ${path}: no such file or directory` };
      })
      .on(/^juicefs rmr /, (c) => {
        Deno.removeSync(c.args[1] ?? "", { recursive: true });
        return {};
      });
    const cli = new JuiceFsCli(runner);
    const backend = new FakeBackend({ root });
    const admin = new AdminMounts(backend, cli, 0);
    const ctl = new ControllerService({ admin, cli, locks: new KeyedLocks(), now: () => NOW });
    const create = (over: Partial<CreateVolumeRequest__Output> = {}) =>
      ctl.CreateVolume({
        name: "pvc-1",
        capacity_range: { required_bytes: String(GI), limit_bytes: "" },
        volume_capabilities: [CAP],
        parameters: {},
        secrets: SECRETS,
        volume_content_source: null,
        accessibility_requirements: null,
        mutable_parameters: {},
        ...over,
      });
    const createId = async (over: Partial<CreateVolumeRequest__Output> = {}) =>
      (await create(over)).volume?.volume_id ?? "";
    await fn({ root, runner, backend, ctl, create, createId, fs });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const exists_ = (p: string) => {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
};
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const count = (r: FakeRunner, re: RegExp) => r.commandLines().filter((l) => re.test(l)).length;
const idOf = (subdir: string, onDelete: "delete" | "retain" | "archive" = "delete") =>
  encodeVolumeId({ fsName: "myfs", onDelete, subdir });

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

// The controller's unit test rig: a temp directory as the file system, a scripted juicefs,
// the real ControllerService. Shared by controller_test.ts and controller_lifecycle_test.ts.
import { join } from "node:path";
import { ControllerService } from "./controller.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeRunner } from "../exec.ts";
import { JuiceFsCli } from "../juicefs/cli.ts";
import { AdminMounts } from "../clients/admin_mounts.ts";
import { KeyedLocks } from "../locks.ts";
import { encodeVolumeId } from "../volume_id.ts";
import type { VolumeCapability__Output } from "./generated/csi/v1/VolumeCapability.ts";
import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";

export const GI = 1n << 30n;
export const PASSWORD = "meta-pass-7781";
export const ACCESS = "AKIA-access-5521";
export const SECRET = "s3-secret-9932";
export const SECRETS = {
  name: "myfs",
  metaurl: `redis://user:${PASSWORD}@redis:6379/1`,
  storage: "s3",
  bucket: "https://bucket.s3.example",
  "access-key": ACCESS,
  "secret-key": SECRET,
};
export const { storage: _s, ...SECRETS_NO_STORAGE } = SECRETS;
export const CAP: VolumeCapability__Output = {
  mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
  access_mode: { mode: "MULTI_NODE_MULTI_WRITER" },
  access_type: "mount",
};
export const BLOCK: VolumeCapability__Output = {
  block: {},
  access_mode: CAP.access_mode,
  access_type: "block",
};
export const NOW = new Date("2024-05-06T07:08:09.010Z");

export interface Env {
  root: string;
  runner: FakeRunner;
  backend: FakeBackend;
  ctl: ControllerService;
  create: (over?: Partial<CreateVolumeRequest__Output>) => ReturnType<ControllerService["CreateVolume"]>;
  /** Creates and returns the volume id. */
  createId: (over?: Partial<CreateVolumeRequest__Output>) => Promise<string>;
  fs: { formatted: boolean; name: string };
}

export async function withController(fn: (e: Env) => Promise<void>): Promise<void> {
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
export const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
export const count = (r: FakeRunner, re: RegExp) => r.commandLines().filter((l) => re.test(l)).length;
export const idOf = (subdir: string, onDelete: "delete" | "retain" | "archive" = "delete") =>
  encodeVolumeId({ fsName: "myfs", onDelete, subdir });

// The node service on a fake mount table over real temp directories (the node tests' fixture).
import { join } from "node:path";
import { NodeService } from "./node.ts";
import { ClientReleaser } from "../clients/releaser.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { type PathHealth, statHealth } from "../mount/mounter.ts";
import { KeyedLocks } from "../locks.ts";
import { encodeVolumeId } from "../volume_id.ts";
import type { VolumeCapability__Output } from "./generated/csi/v1/VolumeCapability.ts";
import type { NodeStageVolumeRequest__Output } from "./generated/csi/v1/NodeStageVolumeRequest.ts";
import type { NodePublishVolumeRequest__Output } from "./generated/csi/v1/NodePublishVolumeRequest.ts";

/** The fake mount table, but paths nobody set a health for are stat'ed for real (temp dirs). */
export class DiskFakeMounter extends FakeMounter {
  override health(path: string): Promise<PathHealth> {
    return Promise.resolve(this.healthOf.get(path)).then((h) => h ?? statHealth(path));
  }
}

export type Mode = NonNullable<VolumeCapability__Output["access_mode"]>["mode"];
export const cap = (mode: Mode = "SINGLE_NODE_WRITER"): VolumeCapability__Output => ({
  mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
  access_mode: { mode },
  access_type: "mount",
});
export const BLOCK: VolumeCapability__Output = {
  block: {},
  access_mode: { mode: "SINGLE_NODE_WRITER" },
  access_type: "block",
};
export const SECRETS = { name: "myfs", metaurl: "redis://:node-pass-1@redis:6379/1" };
export const volId = (subdir: string) => encodeVolumeId({ fsName: "myfs", onDelete: "delete", subdir });
export const VOL = volId("pvc-1");

export interface Env {
  dir: string;
  fsRoot: string;
  mounter: DiskFakeMounter;
  backend: FakeBackend;
  node: NodeService;
  staging: (n?: number) => string;
  target: (n?: number) => string;
  stage: (over?: Partial<NodeStageVolumeRequest__Output>) => Promise<unknown>;
  publish: (over?: Partial<NodePublishVolumeRequest__Output>) => Promise<unknown>;
}

export async function withNode(
  fn: (e: Env) => Promise<void>,
  subdirs = ["pvc-1", "pvc-2"],
  mounter: DiskFakeMounter = new DiskFakeMounter(),
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "node_test" });
  try {
    const fsRoot = join(dir, "clients");
    const backend = new FakeBackend({ root: fsRoot, perKey: true, mounter });
    const releaser = new ClientReleaser(backend, mounter, 0);
    const node = new NodeService({ nodeId: "n1", backend, mounter, locks: new KeyedLocks(), releaser });
    // The volume directories exist in every client's file system (each key's dir is made on ensure).
    const ensure = backend.ensure.bind(backend);
    backend.ensure = async (spec) => {
      const c = await ensure(spec);
      for (const s of subdirs) await Deno.mkdir(join(c.mountPath, s), { recursive: true });
      return c;
    };
    const staging = (n = 1) => join(dir, `staging-${n}`);
    const target = (n = 1) => join(dir, `pods/target-${n}`);
    const base = { publish_context: {}, secrets: SECRETS, volume_context: {}, volume_capability: cap() };
    const stage = (over: Partial<NodeStageVolumeRequest__Output> = {}) =>
      node.NodeStageVolume({ ...base, volume_id: VOL, staging_target_path: staging(), ...over });
    const publish = (over: Partial<NodePublishVolumeRequest__Output> = {}) =>
      node.NodePublishVolume({
        ...base,
        volume_id: VOL,
        staging_target_path: staging(),
        target_path: target(),
        readonly: false,
        ...over,
      });
    await fn({ dir, fsRoot, mounter, backend, node, staging, target, stage, publish });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
export const binds = (m: FakeMounter) => m.actions.filter((a) => a.startsWith("bind "));

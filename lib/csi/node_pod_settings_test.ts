// Mount Pod settings reach the backend from the volume context (StorageClass parameters carried
// by CreateVolume, or a static PV's volumeAttributes); bad ones fail the stage.
import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { NodeService } from "./node.ts";
import { ClientReleaser } from "../clients/releaser.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { KeyedLocks } from "../locks.ts";
import { encodeVolumeId } from "../volume_id.ts";
import { clientKey, type ClientSpec, type ClientUse } from "../clients/backend.ts";

const VOL = encodeVolumeId({ fsName: "myfs", onDelete: "delete", subdir: "pvc-1" });

async function withNode(
  fn: (stage: (ctx: Record<string, string>, n: number) => Promise<unknown>, seen: {
    specs: ClientSpec[];
    uses: (ClientUse | undefined)[];
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "node_pod_settings_test" });
  try {
    const mounter = new FakeMounter();
    const backend = new FakeBackend({ root: join(dir, "clients"), perKey: true, mounter });
    const seen = { specs: [] as ClientSpec[], uses: [] as (ClientUse | undefined)[] };
    const ensure = backend.ensure.bind(backend);
    backend.ensure = async (spec: ClientSpec, use?: ClientUse) => {
      seen.specs.push(spec);
      seen.uses.push(use);
      const c = await ensure(spec);
      await Deno.mkdir(join(c.mountPath, "pvc-1"), { recursive: true });
      return c;
    };
    const node = new NodeService({
      nodeId: "n1",
      backend,
      mounter,
      locks: new KeyedLocks(),
      releaser: new ClientReleaser(backend, mounter, 0),
    });
    const stage = (ctx: Record<string, string>, n: number) =>
      node.NodeStageVolume({
        volume_id: VOL,
        staging_target_path: join(dir, `staging-${n}`),
        publish_context: {},
        secrets: { name: "myfs", metaurl: "redis://:pw-node-44@redis:6379/1" },
        volume_context: ctx,
        volume_capability: {
          mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
          access_mode: { mode: "SINGLE_NODE_WRITER" },
          access_type: "mount",
        },
      });
    await fn(stage, seen);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("node stage: Mount Pod settings from the volume context reach the client spec and its key", async () => {
  await withNode(async (stage, seen) => {
    await stage({ subdir: "pvc-1", "juicefs/mount-memory-limit": "3Gi" }, 1);
    await stage({ subdir: "pvc-1" }, 2);
    assertEquals(seen.specs[0]!.podSettings?.limits.memory, "3Gi");
    assertEquals(seen.specs[1]!.podSettings?.limits.memory, "1Gi");
    assertEquals(seen.uses[0], { volumeId: VOL });
    assert(clientKey(seen.specs[0]!) !== clientKey(seen.specs[1]!), "other pod settings, other client");
  });
});

Deno.test("node stage: a bad Mount Pod setting is INVALID_ARGUMENT naming it", async () => {
  await withNode(async (stage) => {
    await assertCodedError(
      () => stage({ subdir: "pvc-1", mountCpuLimit: "fast" }, 1),
      Code.INVALID_ARGUMENT,
      /mountCpuLimit/,
    );
    await assertCodedError(
      () => stage({ subdir: "pvc-1", "juicefs/mount-whatever": "1" }, 2),
      Code.INVALID_ARGUMENT,
      /juicefs\/mount-whatever/,
    );
  });
});

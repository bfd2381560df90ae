import { assertEquals } from "../testing/assert.ts";
import { client } from "./registry.ts";
import { mountKind, registerNodeMetrics } from "./node_metrics.ts";
import { registerControllerMetrics } from "./controller_metrics.ts";
import { callDone } from "./csi_calls.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { FakeKube } from "../kube/fake_kube.ts";
import { clientLabel, LABEL_CLIENT, LABEL_FS, nodeSelector } from "../clients/pod_spec.ts";

function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

Deno.test("mountKind by the kubelet layout", () => {
  const clients = new Set(["/s/clients/k/mnt"]);
  assertEquals(mountKind("/s/clients/k/mnt", clients), "client");
  assertEquals(mountKind("/k/pods/u/volumes/kubernetes.io~csi/pv/mount", clients), "publish");
  assertEquals(mountKind("/k/plugins/kubernetes.io/csi/jfs.csi.dev/abc/globalmount", clients), "staging");
});

Deno.test("node metrics: clients, mounts by health, failures by reason (process mode)", async () => {
  const registry = new client.Registry();
  const mounter = new FakeMounter();
  const c = mounter.addMount("/s/clients/fs-0123456789ab/mnt");
  mounter.addMount("/k/plugins/kubernetes.io/csi/d/h1/globalmount", "fuse.juicefs", c.device);
  mounter.addMount("/k/pods/u1/volumes/kubernetes.io~csi/pv1/mount", "fuse.juicefs", c.device);
  mounter.addMount("/k/pods/u2/volumes/kubernetes.io~csi/pv1/mount", "fuse.juicefs", c.device);
  mounter.addMount("/elsewhere", "fuse.juicefs"); // not from our client: not counted
  mounter.healthOf.set("/k/pods/u2/volumes/kubernetes.io~csi/pv1/mount", "corrupted");
  const stop = registerNodeMetrics({
    mode: "process",
    list: () => Promise.resolve([{ key: "fs-0123456789ab", mountPath: "/s/clients/fs-0123456789ab/mnt" }]),
    mounter,
    stateDir: "/nonexistent",
    nodeName: "n1",
    registry,
  });
  callDone({ method: "NodePublishVolume", code: "FAILED_PRECONDITION", seconds: 0.1, request: {} });
  callDone({ method: "NodeStageVolume", code: "OK", seconds: 0.1, request: {} });
  callDone({ method: "NodeGetInfo", code: "INTERNAL", seconds: 0.1, request: {} });
  stop();
  callDone({ method: "NodePublishVolume", code: "ABORTED", seconds: 0.1, request: {} }); // after stop
  const text = await registry.metrics();
  assertEquals(sample(text, "csi_jfs_node_clients", 'mode="process"'), 1);
  assertEquals(sample(text, "csi_jfs_node_mounts", 'kind="client",health="healthy"'), 1);
  assertEquals(sample(text, "csi_jfs_node_mounts", 'kind="staging",health="healthy"'), 1);
  assertEquals(sample(text, "csi_jfs_node_mounts", 'kind="publish",health="healthy"'), 1);
  assertEquals(sample(text, "csi_jfs_node_mounts", 'kind="publish",health="broken"'), 1);
  assertEquals(
    sample(text, "csi_jfs_node_volume_failures_total", 'operation="publish",reason="FAILED_PRECONDITION"'),
    1,
  );
  assertEquals(text.includes('reason="ABORTED"'), false);
  assertEquals(text.includes('operation="stage"'), false);
  assertEquals(
    sample(text, "csi_jfs_node_client_restarts", 'client="fs-0123456789ab",fs="fs",kind="supervisor"'),
    0,
  );
});

Deno.test("node metrics: Mount Pod restarts (pod mode)", async () => {
  const registry = new client.Registry();
  const kube = new FakeKube();
  await kube.createPod("csi", {
    metadata: {
      name: "jfs-mount-x",
      labels: {
        ...Object.fromEntries(nodeSelector("n1").split(",").map((kv) => kv.split("=") as [string, string])),
        [LABEL_CLIENT]: clientLabel("fs-0123456789ab"),
        [LABEL_FS]: "fs",
      },
    },
  });
  kube.setPodStatus("csi", "jfs-mount-x", {
    containerStatuses: [{ name: "m", image: "i", imageID: "", ready: true, restartCount: 3 }],
  });
  registerNodeMetrics({
    mode: "pod",
    list: () => Promise.resolve([{ key: "fs-0123456789ab", mountPath: "/s/pods/fs-0123456789ab/mnt" }]),
    mounter: new FakeMounter(),
    stateDir: "/s",
    nodeName: "n1",
    kube,
    namespace: "csi",
    registry,
  })();
  const text = await registry.metrics();
  assertEquals(
    sample(text, "csi_jfs_node_client_restarts", 'client="fs-0123456789ab",fs="fs",kind="mount_pod"'),
    3,
  );
});

Deno.test("controller metrics: volumes, quotas, admin mounts", async () => {
  const registry = new client.Registry();
  const stop = registerControllerMetrics({ adminMounts: () => Promise.resolve(2), registry });
  const cap = { capacity_range: { required_bytes: "1073741824", limit_bytes: "0" } };
  callDone({ method: "CreateVolume", code: "OK", seconds: 0.1, request: cap });
  callDone({ method: "CreateVolume", code: "OK", seconds: 0.1, request: {} });
  callDone({ method: "CreateVolume", code: "INVALID_ARGUMENT", seconds: 0.1, request: cap });
  callDone({ method: "DeleteVolume", code: "OK", seconds: 0.1, request: {} });
  callDone({ method: "ControllerExpandVolume", code: "OK", seconds: 0.1, request: cap });
  stop();
  const text = await registry.metrics();
  assertEquals(sample(text, "csi_jfs_controller_volumes_created_total"), 2);
  assertEquals(sample(text, "csi_jfs_controller_volumes_deleted_total"), 1);
  assertEquals(sample(text, "csi_jfs_controller_quota_operations_total", 'operation="set",code="OK"'), 1);
  assertEquals(
    sample(text, "csi_jfs_controller_quota_operations_total", 'operation="set",code="INVALID_ARGUMENT"'),
    1,
  );
  assertEquals(sample(text, "csi_jfs_controller_quota_operations_total", 'operation="expand",code="OK"'), 1);
  assertEquals(sample(text, "csi_jfs_controller_admin_mounts"), 2);
});

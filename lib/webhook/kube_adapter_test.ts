import { assert, assertEquals } from "../testing/assert.ts";
import { FakeKube } from "../kube/fake_kube.ts";
import type { V1Secret } from "../kube/kube.ts";
import { FacadeInjectorKube, type InjectorWrites, parseVersion } from "./kube_adapter.ts";
import { ClaimResolver } from "./resolve.ts";
import { sidecarContainerFrom } from "./sidecar_container.ts";

const b64 = (s: string) => btoa(s);

class RecordingWrites implements InjectorWrites {
  created: [string, V1Secret][] = [];
  createSecret(namespace: string, secret: V1Secret) {
    this.created.push([namespace, secret]);
    return Promise.resolve();
  }
  replaceSecret() {
    return Promise.resolve();
  }
  setWebhookCaBundle() {
    return Promise.resolve();
  }
}

Deno.test("kube adapter: the shared facade's objects resolve into facts; Secret data is base64 both ways", async () => {
  const kube = new FakeKube();
  kube.pvcs.set("app/data", {
    metadata: { name: "data", namespace: "app", uid: "u1" },
    spec: { volumeName: "pv1", storageClassName: "jfs", accessModes: ["ReadWriteMany"] },
    status: { phase: "Bound" },
  });
  kube.pvs.set("pv1", {
    metadata: { name: "pv1" },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: "jfs",
      claimRef: { namespace: "app", name: "data", uid: "u1" },
      csi: {
        driver: "jfs.csi.dev",
        volumeHandle: "jfs1/fs1/delete/pv1",
        nodeStageSecretRef: { name: "s", namespace: "csi-jfs" },
      },
    },
  });
  kube.storageClasses.set("jfs", {
    metadata: { name: "jfs" },
    provisioner: "jfs.csi.dev",
    parameters: {
      "juicefs/mount-image": "reg/csi-jfs:9",
      "juicefs/mount-memory-limit": "2Gi",
      "juicefs/mount-cache-dir": "/var/cache/jfs",
      "juicefs/host-path": "/srv/jfs-local",
    },
  });
  kube.secrets.set("csi-jfs/s", {
    metadata: { name: "s", namespace: "csi-jfs" },
    data: { name: b64("fs1"), metaurl: b64("redis://:pw@127.0.0.1/1") },
  });
  const writes = new RecordingWrites();
  const r = new ClaimResolver(new FacadeInjectorKube(kube, writes), {
    driverName: "jfs.csi.dev",
    sidecarContainer: (p) => sidecarContainerFrom(p, "default:1"),
  });
  const f = (await r.resolve("app", ["data"], false)).get("data");
  assert(f?.kind === "ours", JSON.stringify(f));
  assertEquals(f.subdir, "pv1");
  assertEquals(f.container.image, "reg/csi-jfs:9");
  assertEquals(f.container.resources?.limits?.["memory"], "2Gi");
  const [ns, secret] = writes.created[0] ?? [];
  assertEquals(ns, "app");
  const settings = JSON.parse(atob(secret?.data?.["settings"] ?? ""));
  assertEquals(settings.settings.secretEnv.META_PASSWORD, "pw");
  assert(settings.mountFlags.includes("--cache-dir=/var/cache/jfs"), settings.mountFlags.join(" "));
  assertEquals(f.container.hostPaths, ["/srv/jfs-local"]);
  assertEquals(secret?.metadata?.ownerReferences?.[0]?.kind, "PersistentVolumeClaim");
});

Deno.test("kube adapter: server versions", () => {
  assertEquals(parseVersion("v1.29.3"), { major: 1, minor: 29, gitVersion: "v1.29.3" });
  assertEquals(parseVersion("v1.30.1-gke.100").minor, 30);
  assertEquals(parseVersion("1.31+").minor, 31);
});

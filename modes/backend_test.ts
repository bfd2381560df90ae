import { assert, assertEquals } from "../lib/testing/assert.ts";
import { parseConfig, UsageError } from "../lib/config.ts";
import { FakeKube } from "../lib/kube/fake_kube.ts";
import { FakeMounter } from "../lib/mount/fake_mounter.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { PodBackend } from "../lib/clients/pod_backend.ts";
import { ProcessBackend } from "../lib/clients/process_backend.ts";
import { nodeMountBackend } from "./backend.ts";

function config(args: string[]) {
  const p = parseConfig(["--mode=node", "--state-dir=/tmp/state-x", ...args], () => "node-a");
  if (p.kind !== "run") throw new Error("no config");
  return p.config;
}

const deps = (kube?: FakeKube) => ({
  runner: new DenoCommandRunner(),
  mounter: new FakeMounter(),
  ...(kube ? { kube } : {}),
});

Deno.test("node backend: process by default, pod with --mount-mode=pod and the plugin's own image", async () => {
  assert((await nodeMountBackend(config([]), deps())).backend instanceof ProcessBackend);
  const kube = new FakeKube();
  await kube.createPod("csi-jfs", {
    metadata: { name: "csi-jfs-node-x1" },
    spec: {
      containers: [{ name: "node-driver-registrar", image: "reg" }, { name: "csi-jfs", image: "me:1" }],
    },
  });
  Deno.env.set("POD_NAMESPACE", "csi-jfs");
  Deno.env.set("POD_NAME", "csi-jfs-node-x1");
  try {
    const nb = await nodeMountBackend(config(["--mount-mode=pod", "--state-host-dir=/host/x"]), deps(kube));
    assert(nb.backend instanceof PodBackend);
    const b = nb.backend as PodBackend;
    assertEquals([b.o.image, b.o.namespace, b.o.nodeName, b.o.hostStateDir], [
      "me:1",
      "csi-jfs",
      "node-a",
      "/host/x",
    ]);
    const flag = await nodeMountBackend(
      config(["--mount-mode=pod", "--mount-image=other:2", "--namespace=ns2"]),
      deps(kube),
    );
    assertEquals([(flag.backend as PodBackend).o.image, (flag.backend as PodBackend).o.namespace], [
      "other:2",
      "ns2",
    ]);
  } finally {
    Deno.env.delete("POD_NAMESPACE");
    Deno.env.delete("POD_NAME");
  }
});

Deno.test("node backend: pod mode without a namespace or an image says what is missing", async () => {
  for (
    const [args, env, want] of [
      [["--mount-mode=pod"], {}, /needs --namespace or env POD_NAMESPACE/],
      [["--mount-mode=pod", "--namespace=csi-jfs"], {}, /needs --mount-image, or env POD_NAME/],
    ] as [string[], Record<string, string>, RegExp][]
  ) {
    for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
    try {
      await nodeMountBackend(config(args), deps(new FakeKube()));
      throw new Error(`accepted ${args.join(" ")}`);
    } catch (e) {
      assert(e instanceof UsageError && want.test(e.message), String(e));
    }
  }
});

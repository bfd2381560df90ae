// The Helm chart deploy/helm/csi-jfs: lint, render with the defaults and with every value
// switched, and its default render against the kustomize base (`kubectl kustomize deploy`).
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { CACHE, ROOT } from "../support/driver.ts";
import { diff, diffObjects, effective, objectsOf } from "./normalize.ts";

// Rendered objects are walked by field name: loose typing is what a YAML document has.
// deno-lint-ignore no-explicit-any
type Json = any;

const HELM = `${CACHE}/bin/helm`;
const CHART = `${ROOT}/deploy/helm/csi-jfs`;

/** kubectl from the cluster build (hack/cluster), or one on PATH. */
async function kubectl(): Promise<string> {
  for await (const e of Deno.readDir(CACHE)) {
    const path = `${CACHE}/${e.name}/bin/kubectl`;
    if (e.name.startsWith("k8s-") && (await Deno.stat(path).catch(() => undefined))) return path;
  }
  return "kubectl";
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

const template = (...set: string[]) =>
  run(HELM, ["template", "csi-jfs", CHART, "--namespace", "csi-jfs", ...set.flatMap((s) => ["--set", s])]);

Deno.test("helm lint passes, with the defaults and with the sidecar injector on", async () => {
  await run(HELM, ["lint", "--strict", CHART]);
  await run(HELM, ["lint", "--strict", CHART, "--set", "sidecarInjector.enabled=true"]);
});

Deno.test("the chart's default render describes the kustomize base's objects", async () => {
  const chart = objectsOf(await template());
  // Helm installs into a namespace it is given (--create-namespace); the base creates its own.
  const base = objectsOf(await run(await kubectl(), ["kustomize", `${ROOT}/deploy`]), {
    dropKinds: ["Namespace"],
  });
  const differences = diffObjects(chart, base);
  assertEquals(
    differences,
    [],
    `deploy/helm/csi-jfs and deploy/ differ (fix the chart's templates or values):\n  ${
      differences.join("\n  ")
    }`,
  );
  console.log(`${chart.size} objects identical`);
});

Deno.test("deploy/helm/e2e-values.yaml renders what tests/e2e/overlay deploys", async () => {
  const chart = effective(objectsOf(
    await run(HELM, [
      "template",
      "csi-jfs",
      CHART,
      "--namespace",
      "csi-jfs",
      "-f",
      `${ROOT}/deploy/helm/e2e-values.yaml`,
    ]),
  ));
  const overlay = effective(
    objectsOf(await run(await kubectl(), ["kustomize", `${ROOT}/tests/e2e/overlay`]), {
      dropKinds: ["Namespace"],
    }),
  );
  // The embedded JuiceFS's Secret and StorageClass are the e2e suite's, applied beside the chart.
  for (const key of [...overlay.keys()]) if (key.includes("juicefs-e2e")) overlay.delete(key);
  const differences = diffObjects(chart, overlay);
  assertEquals(
    differences,
    [],
    `e2e-values.yaml and tests/e2e/overlay differ:\n  ${differences.join("\n  ")}`,
  );
});

Deno.test("values: mount mode, kubelet dir, images, resources, scheduling, log format, metrics", async () => {
  const objs = objectsOf(
    await template(
      "mountMode=process",
      "kubeletDir=/var/snap/microk8s/common/var/lib/kubelet",
      "image.repository=registry.example/csi-jfs",
      "image.tag=9.9.9",
      "node.resources.limits.memory=1Gi",
      "node.nodeSelector.storage=juicefs",
      "controller.tolerations[0].operator=Exists",
      "logFormat=json",
      "metrics.enabled=false",
    ),
  );
  const ds = objs.get("DaemonSet/csi-jfs/csi-jfs-node") as Json;
  const spec = ds.spec.template.spec;
  const node = spec.containers.find((c: { name: string }) => c.name === "csi-jfs");
  assert(node.args.includes("--mount-mode=process"), node.args);
  assert(node.args.includes("--log-format=json"), node.args);
  assertEquals(node.args.some((a: string) => a.startsWith("--metrics-address")), false);
  assertEquals(node.image, "registry.example/csi-jfs:9.9.9");
  assertEquals(node.resources, { limits: { memory: "1Gi" } });
  assertEquals(spec.nodeSelector, { storage: "juicefs" });
  const kubelet = "/var/snap/microk8s/common/var/lib/kubelet";
  assertEquals(spec.volumes.find((v: { name: string }) => v.name === "kubelet-dir").hostPath.path, kubelet);
  assertEquals(node.env.find((e: { name: string }) => e.name === "KUBELET_DIR").value, kubelet);
  const dep = objs.get("Deployment/csi-jfs/csi-jfs-controller") as Json;
  assertEquals(dep.spec.template.spec.tolerations, [{ operator: "Exists" }]);
  const injector = objectsOf(await template("sidecarInjector.enabled=true"));
  assert(injector.has("MutatingWebhookConfiguration/-/csi-jfs-sidecar-injector"));
  assert(injector.has("Deployment/csi-jfs/csi-jfs-sidecar-injector"));
  assertEquals(objectsOf(await template()).has("Deployment/csi-jfs/csi-jfs-sidecar-injector"), false);
});

Deno.test("diff names the object and the field that differ", () => {
  const a = { spec: { containers: [{ name: "csi-jfs", args: ["--a", "--b"] }] } };
  const b = { spec: { containers: [{ name: "csi-jfs", args: ["--a", "--c"] }] } };
  assertEquals(diff(a, b), ['spec.containers[name=csi-jfs].args[1]: chart="--b" kustomize="--c"']);
  assertEquals(
    diffObjects(new Map([["Kind/ns/x", a]]), new Map([["Kind/ns/y", b]])),
    ["Kind/ns/x: only in the chart", "Kind/ns/y: only in the kustomize base"],
  );
});

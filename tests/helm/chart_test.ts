// The Helm chart deploy/helm/csi-jfs: lint, render with the defaults and with every value
// switched, and its renders against kustomize builds: the defaults against deploy/, the sidecar
// injector against deploy/ + deploy/sidecar-injector (tests/helm/with-injector), and
// deploy/helm/e2e-values.yaml against what tests/e2e/run.sh deploys.
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

/** `helm template` with values files first and `--set`s over them (Helm's precedence either way). */
const templateWith = (files: string[], set: string[]) =>
  run(HELM, [
    "template",
    "csi-jfs",
    CHART,
    "--namespace",
    "csi-jfs",
    ...files.flatMap((f) => ["--values", f]),
    ...set.flatMap((s) => ["--set", s]),
  ]);
const template = (...set: string[]) => templateWith([], set);

Deno.test("helm lint passes: the defaults, the sidecar injector on, e2e-values.yaml", async () => {
  await run(HELM, ["lint", "--strict", CHART]);
  await run(HELM, ["lint", "--strict", CHART, "--set", "sidecarInjector.enabled=true"]);
  await run(HELM, ["lint", "--strict", CHART, "--values", `${ROOT}/deploy/helm/e2e-values.yaml`]);
});

/** `kubectl kustomize dir` as objects, its Namespace dropped (Helm installs into one it is given). */
async function kustomized(dir: string): Promise<Map<string, Json>> {
  return objectsOf(await run(await kubectl(), ["kustomize", `${ROOT}/${dir}`]), { dropKinds: ["Namespace"] });
}

function assertSame(chart: Map<string, Json>, kustomize: Map<string, Json>, what: string): void {
  const differences = diffObjects(chart, kustomize);
  assertEquals(
    differences,
    [],
    `${what} differ (fix the chart's templates or values):\n  ${differences.join("\n  ")}`,
  );
  console.log(`${chart.size} objects identical`);
}

Deno.test("the chart's default render describes the kustomize base's objects", async () => {
  assertSame(objectsOf(await template()), await kustomized("deploy"), "deploy/helm/csi-jfs and deploy/");
});

Deno.test("sidecarInjector.enabled=true adds what the component deploy/sidecar-injector adds", async () => {
  const chart = objectsOf(await template("sidecarInjector.enabled=true"));
  const kustomize = await kustomized("tests/helm/with-injector");
  assertSame(chart, kustomize, "the chart with the injector and deploy/ + deploy/sidecar-injector");
  // The comparison is only worth something if the injector is in it.
  const injector = [...kustomize.keys()].filter((k) => k.endsWith("/csi-jfs-sidecar-injector"));
  assertEquals(injector.length, 9, injector.join(", "));
});

const e2eValues = async (...set: string[]) =>
  effective(objectsOf(await templateWith([`${ROOT}/deploy/helm/e2e-values.yaml`], set)));

/** An e2e overlay's objects, less the embedded JuiceFS's Secret and StorageClass (applied beside the chart). */
async function e2eOverlay(dir: string): Promise<Map<string, Json>> {
  const overlay = effective(await kustomized(dir));
  for (const key of [...overlay.keys()]) if (key.includes("juicefs-e2e")) overlay.delete(key);
  return overlay;
}

Deno.test("deploy/helm/e2e-values.yaml renders what tests/e2e/overlay-sidecar deploys", async () => {
  assertSame(
    await e2eValues(),
    await e2eOverlay("tests/e2e/overlay-sidecar"),
    "e2e-values.yaml and tests/e2e/overlay-sidecar",
  );
});

Deno.test("e2e-values.yaml without the injector renders what tests/e2e/overlay deploys", async () => {
  assertSame(
    await e2eValues("sidecarInjector.enabled=false"),
    await e2eOverlay("tests/e2e/overlay"),
    "e2e-values.yaml (sidecarInjector.enabled=false) and tests/e2e/overlay",
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
});

Deno.test("injector values: replicas, images, listen, service, labels, failure policy, timeout", async () => {
  assertEquals(objectsOf(await template()).has("Deployment/csi-jfs/csi-jfs-sidecar-injector"), false);
  const objs = objectsOf(
    await template(
      "sidecarInjector.enabled=true",
      "sidecarInjector.replicas=3",
      "sidecarInjector.image=registry.example/csi-jfs:injector",
      "sidecarInjector.sidecarImage=registry.example/csi-jfs:client",
      "sidecarInjector.listen=10.0.0.7:8443",
      "sidecarInjector.service.port=8443",
      "sidecarInjector.resources.limits.memory=1Gi",
      "sidecarInjector.namespaceLabel.key=example.com/juicefs",
      "sidecarInjector.juicefsNamespaceLabel=false",
      "sidecarInjector.failurePolicy=Ignore",
      "sidecarInjector.timeoutSeconds=5",
      "sidecarInjector.metrics=true",
      "logFormat=json",
    ),
  );
  const dep = objs.get("Deployment/csi-jfs/csi-jfs-sidecar-injector") as Json;
  assertEquals(dep.spec.replicas, 3);
  const c = dep.spec.template.spec.containers[0];
  assertEquals(c.image, "registry.example/csi-jfs:injector");
  assertEquals(c.args, [
    "--mode=sidecar-injector",
    "--listen=10.0.0.7:8443",
    "--sidecar-image=registry.example/csi-jfs:client",
    "--log-format=json",
    "--metrics-address=:9810",
  ]);
  assertEquals(c.ports, [{ name: "webhook", containerPort: 8443 }, { name: "metrics", containerPort: 9810 }]);
  assertEquals(c.readinessProbe.httpGet.host, "10.0.0.7");
  assertEquals(c.resources, { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "1Gi" } });
  const hook = objs.get("MutatingWebhookConfiguration/-/csi-jfs-sidecar-injector") as Json;
  assertEquals(hook.webhooks.length, 1, "juicefsNamespaceLabel=false: one webhook");
  const [w] = hook.webhooks;
  assertEquals(w.namespaceSelector, { matchLabels: { "example.com/juicefs": "enabled" } });
  assertEquals([w.failurePolicy, w.timeoutSeconds, w.clientConfig.service.port], ["Ignore", 5, 8443]);
  assertEquals((objs.get("Service/csi-jfs/csi-jfs-sidecar-injector") as Json).spec.ports[0].port, 8443);
  // Listening everywhere (the default): probed at the pod IP, as kubelet does without a host.
  const dflt = objectsOf(await template("sidecarInjector.enabled=true"));
  const probe = (dflt.get("Deployment/csi-jfs/csi-jfs-sidecar-injector") as Json).spec.template.spec
    .containers[0].readinessProbe.httpGet;
  assertEquals(probe.host, undefined);
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

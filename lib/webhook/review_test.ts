import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { applyJsonPatch } from "../testing/json_patch.ts";
import { FakeInjectorKube } from "./fake_kube.ts";
import { ClaimResolver } from "./resolve.ts";
import { handleReview } from "./review.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

function setup() {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "data");
  const resolver = new ClaimResolver(kube, {
    driverName: "jfs.csi.dev",
    sidecarContainer: () => ({ image: "img" }),
  });
  return { kube, deps: { resolve: resolver.resolve.bind(resolver) } };
}

const podWith = (volumes: Any[]) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p" },
  spec: {
    volumes,
    containers: [{
      name: "a",
      image: "x",
      volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/${v.name}` })),
    }],
  },
});

const reviewOf = (object: unknown, over: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "app",
      object,
      ...over,
    },
  });

Deno.test("review: a pod with our PVC gets a base64 JSONPatch that yields the injected pod", async () => {
  const { deps, kube } = setup();
  const pod = podWith([{ name: "data", persistentVolumeClaim: { claimName: "data" } }]);
  const a = await handleReview(reviewOf(pod), deps);
  assertEquals(a.status, 200);
  const r = JSON.parse(a.body).response;
  assertEquals([r.uid, r.allowed, r.patchType], ["0f1e2d3c-aaaa-bbbb-cccc-000000000001", true, "JSONPatch"]);
  const out: Any = applyJsonPatch(pod, JSON.parse(atob(r.patch)));
  assertEquals(out.spec.initContainers.length, 1);
  assertEquals(out.spec.volumes, [{ name: "data", emptyDir: {} }, {
    name: `${out.spec.initContainers[0].name}-cache`,
    emptyDir: {},
  }]);
  assert(!a.body.includes("hunter2") && !atob(r.patch).includes("hunter2"), "no secret in the answer");
  assertEquals(kube.writes, 1);
});

Deno.test("review: pods with no PVC of ours are allowed with no patch field", async () => {
  const { deps } = setup();
  for (const vols of [[], [{ name: "e", emptyDir: {} }]]) {
    const r = JSON.parse((await handleReview(reviewOf(podWith(vols)), deps)).body).response;
    assertEquals(r, { uid: "0f1e2d3c-aaaa-bbbb-cccc-000000000001", allowed: true });
  }
});

Deno.test("review: what is not a review is a 400; a review we cannot serve is a denial", async () => {
  const { deps } = setup();
  for (
    const body of [
      "",
      "{",
      "[]",
      "null",
      '"x"',
      JSON.stringify({ kind: "AdmissionReview" }),
      reviewOf({}, { uid: "../x" }),
    ]
  ) {
    assertEquals((await handleReview(body, deps)).status, 400, body);
  }
  const denials: [string, RegExp][] = [
    [reviewOf({}, { kind: { group: "apps", version: "v1", kind: "Deployment" } }), /only handles v1 Pods/],
    [reviewOf({}, { operation: "UPDATE" }), /pod creation/],
    [reviewOf({}, { namespace: "../etc" }), /namespace/],
    [reviewOf("not a pod"), /not a pod/],
    [
      reviewOf(podWith([{ name: "v", persistentVolumeClaim: { claimName: "missing" } }])),
      /PVC app\/missing not found/,
    ],
  ];
  for (const [body, re] of denials) {
    const a = await handleReview(body, deps);
    assertEquals(a.status, 200);
    const r = JSON.parse(a.body).response;
    assertEquals(r.allowed, false);
    assertEquals(r.status.code, 403);
    assertMatch(r.status.message, re);
  }
});

Deno.test("review: an API failure is a denial naming it, never a throw", async () => {
  const { deps, kube } = setup();
  kube.failNext.set("getPvc", new Error("connect ECONNREFUSED"));
  const r = JSON.parse(
    (await handleReview(
      reviewOf(podWith([{ name: "d", persistentVolumeClaim: { claimName: "data" } }])),
      deps,
    )).body,
  ).response;
  assertEquals(r.allowed, false);
  assertMatch(r.status.message, /could not resolve the pod's volumes: connect ECONNREFUSED/);
});

Deno.test("review: every answer is counted once by its result", async () => {
  const { deps } = setup();
  const results: string[] = [];
  const counted = { ...deps, answered: (r: string) => results.push(r) };
  await handleReview("{not json", counted);
  await handleReview(reviewOf(podWith([{ name: "scratch", emptyDir: {} }])), counted);
  await handleReview(
    reviewOf(podWith([{ name: "d", persistentVolumeClaim: { claimName: "data" } }])),
    counted,
  );
  await handleReview(reviewOf(podWith([]), { operation: "UPDATE" }), counted);
  assertEquals(results, ["error", "unchanged", "injected", "denied"]);
});

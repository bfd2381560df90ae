import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { applyJsonPatch } from "../testing/json_patch.ts";
import type { ClaimFacts, OurClaim } from "./facts.ts";
import { claimNames, type Decision, mutatePod } from "./mutate.ts";

type Obj = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
type Any = any;

const ours = (over: Partial<OurClaim> = {}): OurClaim => ({
  kind: "ours",
  clientKey: "fs1-aaaaaaaaaaaa",
  fsName: "fs1",
  subdir: "pvc-1",
  readOnly: false,
  settingsSecret: "csi-jfs-fs1-aaaaaaaaaaaa",
  container: { image: "csi-jfs:0.1.0" },
  ...over,
});

function pod(spec: Obj, meta: Obj = { name: "p", namespace: "ns" }): Obj {
  return { apiVersion: "v1", kind: "Pod", metadata: meta, spec };
}
const pvcVol = (name: string, claimName: string, readOnly?: boolean) => ({
  name,
  persistentVolumeClaim: { claimName, ...(readOnly ? { readOnly } : {}) },
});
const app = (name: string, mounts: Obj[]) => ({ name, image: "busybox", volumeMounts: mounts });

function applied(p: Obj, d: Decision): Any {
  assert(d.kind === "patch", `expected a patch, got ${JSON.stringify(d)}`);
  return applyJsonPatch(p, d.patch);
}
const sidecars = (out: Any): Any[] =>
  (out.spec.initContainers ?? []).filter((c: Any) => c.name.startsWith("csi-jfs-"));
const binds = (c: Any): Any[] => JSON.parse(c.env.find((e: Any) => e.name === "CSI_JFS_VOLUME_BINDS").value);

Deno.test("mutate: a pod with no PVC of ours is allowed with no patch", () => {
  const facts = new Map<string, ClaimFacts>([["other", { kind: "foreign" }]]);
  for (
    const p of [
      pod({ containers: [app("a", [])] }),
      pod({
        volumes: [{ name: "e", emptyDir: {} }],
        containers: [app("a", [{ name: "e", mountPath: "/e" }])],
      }),
      pod({ volumes: [pvcVol("v", "other")], containers: [app("a", [{ name: "v", mountPath: "/v" }])] }),
    ]
  ) assertEquals(mutatePod(p, facts), { kind: "allow" });
});

Deno.test("mutate: several containers and init containers, subPath and readOnly kept", () => {
  const p = pod({
    volumes: [pvcVol("data", "c1"), { name: "tmp", emptyDir: {} }],
    initContainers: [app("prep", [{ name: "data", mountPath: "/d", subPath: "in" }])],
    containers: [
      app("a", [{ name: "data", mountPath: "/data" }, { name: "tmp", mountPath: "/tmp" }]),
      app("b", [{ name: "data", mountPath: "/ro", subPath: "x/y", readOnly: true }]),
    ],
  });
  const out = applied(p, mutatePod(p, new Map([["c1", ours()]])));
  const [sc, ...rest] = out.spec.initContainers;
  assertEquals(out.spec.volumes, [{ name: "data", emptyDir: {} }, { name: "tmp", emptyDir: {} }, {
    name: `${sc.name}-cache`,
    emptyDir: {},
  }]);
  assertEquals(rest.map((c: Any) => c.name), ["prep"], "the sidecar comes first, the user's init after");
  assertEquals(sc.restartPolicy, "Always");
  assertEquals(sc.args, ["--mode=mount-supervisor"]);
  assertEquals(sc.securityContext, { privileged: true });
  assertEquals(sc.volumeMounts, [
    { name: "data", mountPath: "/jfs/data", mountPropagation: "Bidirectional" },
    { name: `${sc.name}-cache`, mountPath: "/var/jfsCache" },
  ]);
  assertEquals(binds(sc), [{ subdir: "pvc-1", target: "/jfs/data", readOnly: false }]);
  assertEquals(sc.env[0].valueFrom, { secretKeyRef: { name: "csi-jfs-fs1-aaaaaaaaaaaa", key: "settings" } });
  assertMatch(sc.startupProbe.exec.command[2], /\/pvc-1 \/jfs\/data .* - fuse\\\\?\.juicefs/);
  assertEquals(rest[0].volumeMounts, [
    { name: "data", mountPath: "/d", subPath: "in", mountPropagation: "HostToContainer" },
  ]);
  assertEquals(out.spec.containers[0].volumeMounts, [
    { name: "data", mountPath: "/data", mountPropagation: "HostToContainer" },
    { name: "tmp", mountPath: "/tmp" },
  ]);
  assertEquals(out.spec.containers[1].volumeMounts, [
    { name: "data", mountPath: "/ro", subPath: "x/y", readOnly: true, mountPropagation: "HostToContainer" },
  ]);
  assertEquals(out.metadata.annotations["jfs.csi.dev/injected"], sc.name);
  assertEquals(JSON.stringify(out).includes("secret-value"), false);
});

Deno.test("mutate: two volumes of one file system share one sidecar; two file systems get two", () => {
  const p = pod({
    volumes: [pvcVol("a", "c1"), pvcVol("b", "c2"), pvcVol("c", "c3")],
    containers: [app("x", [{ name: "a", mountPath: "/a" }, { name: "b", mountPath: "/b" }, {
      name: "c",
      mountPath: "/c",
    }])],
  });
  const facts = new Map<string, ClaimFacts>([
    ["c1", ours({ subdir: "one" })],
    ["c2", ours({ subdir: "two" })],
    ["c3", ours({ clientKey: "fs2-bbbbbbbbbbbb", fsName: "fs2", subdir: "", settingsSecret: "s2" })],
  ]);
  const out = applied(p, mutatePod(p, facts));
  const sc = sidecars(out);
  assertEquals(sc.length, 2);
  assertEquals(binds(sc[0]).map((b: Any) => b.subdir), ["one", "two"]);
  assertEquals(binds(sc[1]), [{ subdir: "", target: "/jfs/c", readOnly: false }]);
  assertMatch(sc[1].startupProbe.exec.command[2], / \/ \/jfs\/c /, "the root of a file system binds /");
  assert(sc[0].name !== sc[1].name);
});

Deno.test("mutate: ROX, a read-only claim reference and a read-only PVC stay read-only", () => {
  const p = pod({
    volumes: [pvcVol("rox", "c1"), pvcVol("ref", "c2", true)],
    containers: [app("x", [{ name: "rox", mountPath: "/a" }, { name: "ref", mountPath: "/b" }])],
  });
  const facts = new Map<string, ClaimFacts>([["c1", ours({ readOnly: true })], [
    "c2",
    ours({ subdir: "s" }),
  ]]);
  const out = applied(p, mutatePod(p, facts));
  assertEquals(binds(sidecars(out)[0]).map((b: Any) => b.readOnly), [true, true]);
  assertEquals(out.spec.containers[0].volumeMounts.map((m: Any) => m.readOnly), [true, true]);
});

Deno.test("mutate: re-invocation leaves an injected pod unchanged, and fixes containers added since", () => {
  const p = pod({
    volumes: [pvcVol("data", "c1")],
    containers: [app("a", [{ name: "data", mountPath: "/data" }])],
  });
  const facts = new Map<string, ClaimFacts>([["c1", ours({ readOnly: true })]]);
  const once = applied(p, mutatePod(p, facts));
  assertEquals(mutatePod(once, facts), { kind: "allow" }, "second call: nothing to do");
  // Another webhook added a container that mounts the (now emptyDir) volume.
  once.spec.containers.push(app("late", [{ name: "data", mountPath: "/late" }]));
  const twice = applied(once, mutatePod(once, facts));
  assertEquals(twice.spec.containers[1].volumeMounts, [
    { name: "data", mountPath: "/late", mountPropagation: "HostToContainer", readOnly: true },
  ]);
  assertEquals(sidecars(twice).length, 1);
  assertEquals(mutatePod(twice, facts), { kind: "allow" });
});

Deno.test("mutate: an opted-out pod is allowed unchanged", () => {
  for (
    const l of [{ "jfs.csi.dev/inject": "disabled" }, { "disable.sidecar.juicefs.com/inject": "true" }]
  ) {
    const p = pod({ volumes: [pvcVol("v", "c1")], containers: [app("a", [])] }, { labels: l });
    assertEquals(mutatePod(p, new Map([["c1", ours()]])), { kind: "allow" });
  }
});

Deno.test("mutate: refusals say why in one line", () => {
  const cases: [Obj, ReadonlyMap<string, ClaimFacts>, RegExp][] = [
    [
      pod({ volumes: [pvcVol("v", "c1")], containers: [app("a", [])] }),
      new Map([["c1", { kind: "refuse", reason: "PVC c1 is not bound yet" }]]),
      /^PVC c1 is not bound yet$/,
    ],
    [
      pod({
        volumes: [pvcVol("v", "c1")],
        containers: [{ name: "a", volumeDevices: [{ name: "v", devicePath: "/dev/x" }] }],
      }),
      new Map([["c1", ours()]]),
      /block device/,
    ],
    [
      pod({ volumes: [pvcVol("Bad/Name", "c1")], containers: [] }),
      new Map([["c1", ours()]]),
      /not a DNS label/,
    ],
    [pod({ volumes: "nope" } as Obj), new Map(), /spec.volumes is not a list/],
    [{ kind: "Pod" }, new Map(), /spec is missing/],
    [pod({ containers: [{ name: "a", volumeMounts: [1] }] }), new Map(), /volumeMounts is not a list/],
  ];
  for (const [p, facts, re] of cases) {
    const d = mutatePod(p, facts);
    assert(d.kind === "deny", JSON.stringify(d));
    assertMatch(d.reason, re);
    assert(!d.reason.includes("\n"));
  }
});

Deno.test("mutate: the cache is an emptyDir, host paths are mounted, resources are carried", () => {
  const p = pod({ volumes: [pvcVol("v", "c1")], containers: [app("a", [{ name: "v", mountPath: "/v" }])] });
  const resources = { requests: { cpu: "100m" }, limits: { memory: "1Gi" } };
  const container = { image: "i", resources, cacheDir: "/cache", hostPaths: ["/srv/a", "/srv/b"] };
  const out = applied(p, mutatePod(p, new Map([["c1", ours({ container })]])));
  const sc = sidecars(out)[0];
  assertEquals(sc.resources, resources);
  assertEquals(sc.image, "i");
  assertEquals(out.spec.volumes.slice(1), [
    { name: `${sc.name}-cache`, emptyDir: {} },
    { name: `${sc.name}-host-0`, hostPath: { path: "/srv/a", type: "Directory" } },
    { name: `${sc.name}-host-1`, hostPath: { path: "/srv/b", type: "Directory" } },
  ]);
  assertEquals(sc.volumeMounts.slice(1).map((m: Any) => m.mountPath), ["/cache", "/srv/a", "/srv/b"]);
  const plain = applied(p, mutatePod(p, new Map([["c1", ours()]])));
  assertEquals(sidecars(plain)[0].volumeMounts[1].mountPath, "/var/jfsCache", "JuiceFS's default cache dir");
});

Deno.test("mutate: claimNames lists each PVC once and tolerates junk", () => {
  assertEquals(claimNames(pod({ volumes: [pvcVol("a", "c"), pvcVol("b", "c"), pvcVol("d", "e")] })), [
    "c",
    "e",
  ]);
  assertEquals(claimNames("junk"), []);
  assertEquals(claimNames(pod({ volumes: [{ name: "x", persistentVolumeClaim: { claimName: 3 } }] })), []);
});

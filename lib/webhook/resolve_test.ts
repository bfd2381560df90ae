import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { alreadyExists, CodedError } from "../errors.ts";
import { FakeInjectorKube } from "./fake_kube.ts";
import { ClaimResolver } from "./resolve.ts";
import type { ClaimFacts } from "./facts.ts";

const resolver = (kube: FakeInjectorKube) =>
  new ClaimResolver(kube, { driverName: "jfs.csi.dev", sidecarContainer: () => ({ image: "csi-jfs:t" }) });

function refusal(f: ClaimFacts | undefined): string {
  assert(f?.kind === "refuse", JSON.stringify(f));
  return f.reason;
}

Deno.test("resolve: a bound PVC of ours gives its facts and a settings Secret owned by the PVC", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "data");
  const facts = await resolver(kube).resolve("app", ["data"], false);
  const f = facts.get("data");
  assert(f?.kind === "ours", JSON.stringify(f));
  assertEquals(f.subdir, "pv-data");
  assertEquals(f.fsName, "fs1");
  assertEquals(f.readOnly, false);
  const secret = kube.secrets.get(`app/${f.settingsSecret}`);
  assert(secret, "settings Secret written in the pod's namespace");
  assertEquals(secret.ownerReferences?.map((o) => o.uid), ["uid-app-data"]);
  const s = JSON.parse(secret.data["settings"] ?? "");
  assertEquals(s.settings.metaUrl, "redis://@127.0.0.1:6379/1", "password moved out of the URL");
  assertEquals(s.settings.secretEnv.META_PASSWORD, "hunter2-pass");
  assertEquals(s.mountPoint, "/var/lib/csi-jfs/fs");
  assert(!JSON.stringify(f).includes("hunter2"), "facts (which reach the pod spec) hold no secret");
});

Deno.test("resolve: the Secret is written once, merges owners, and skips dry runs", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "a");
  kube.addBoundClaim("app", "b");
  const r = resolver(kube);
  await r.resolve("app", ["a"], true);
  assertEquals(kube.writes, 0, "dry run writes nothing");
  await r.resolve("app", ["a"], false);
  await r.resolve("app", ["a"], false);
  assertEquals(kube.writes, 1, "unchanged content is not rewritten");
  const facts = await r.resolve("app", ["b"], false);
  const f = facts.get("b");
  assert(f?.kind === "ours");
  assertEquals(kube.secrets.get(`app/${f.settingsSecret}`)?.ownerReferences?.map((o) => o.name), ["a", "b"]);
});

Deno.test("resolve: a racing writer is merged with, not overwritten", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "a");
  kube.addBoundClaim("app", "b");
  const r = resolver(kube);
  let raced = false;
  kube.beforeSecretWrite = () => {
    if (raced) return;
    raced = true;
    kube.failNext.set("createSecret", alreadyExists("the other replica was first"));
  };
  const first = (await r.resolve("app", ["a"], false)).get("a");
  assert(first?.kind === "ours");
  // The "other replica" never wrote; our retry created it. Now race a replace.
  raced = false;
  kube.beforeSecretWrite = () => {
    if (raced) return;
    raced = true;
    const cur = kube.secrets.get(`app/${first.settingsSecret}`);
    if (cur) kube.secrets.set(`app/${first.settingsSecret}`, { ...cur, resourceVersion: "999" });
  };
  await r.resolve("app", ["b"], false);
  assertEquals(kube.secrets.get(`app/${first.settingsSecret}`)?.ownerReferences?.map((o) => o.name), [
    "a",
    "b",
  ]);
});

Deno.test("resolve: refusals name the cause", async () => {
  const kube = new FakeInjectorKube();
  kube.pvcs.set("app/pending", {
    name: "pending",
    namespace: "app",
    uid: "u",
    phase: "Pending",
    storageClassName: "jfs",
    accessModes: ["ReadWriteMany"],
  });
  kube.classes.set("jfs", {
    name: "jfs",
    provisioner: "jfs.csi.dev",
    parameters: {},
    volumeBindingMode: "WaitForFirstConsumer",
  });
  kube.addBoundClaim("app", "nosecret", { secret: null });
  kube.addBoundClaim("other", "badsecret", { secret: { name: "fs1" } });
  const r = resolver(kube);
  assertMatch(
    refusal((await r.resolve("app", ["pending"], false)).get("pending")),
    /not bound yet \(StorageClass jfs has volumeBindingMode WaitForFirstConsumer\).*Immediate/,
  );
  assertMatch(
    refusal((await r.resolve("app", ["missing"], false)).get("missing")),
    /PVC app\/missing not found/,
  );
  assertMatch(
    refusal((await r.resolve("app", ["nosecret"], false)).get("nosecret")),
    /Secret csi-jfs\/secret-nosecret \(nodeStageSecretRef\) not found/,
  );
  assertMatch(refusal((await r.resolve("other", ["badsecret"], false)).get("badsecret")), /metaurl/);
  kube.failNext.set("getSecret", new CodedError(7, "secrets is forbidden"));
  assertMatch(
    refusal((await r.resolve("app", ["nosecret"], false)).get("nosecret")),
    /cannot be read: secrets is forbidden/,
  );
  const block = kube.pvcs.get("other/badsecret");
  if (block) kube.pvcs.set("app/block", { ...block, namespace: "app", name: "block", volumeMode: "Block" });
  kube.pvs.set("pv-block", {
    ...kube.pvs.get("pv-badsecret")!,
    claimRef: { namespace: "app", name: "block" },
  });
  kube.pvcs.set("app/block", { ...kube.pvcs.get("app/block")!, volumeName: "pv-block" });
  assertMatch(refusal((await r.resolve("app", ["block"], false)).get("block")), /volumeMode Block/);
});

Deno.test("resolve: another driver's PVC, bound or not, is left alone", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "ebs", { driver: "ebs.csi.aws.com" });
  kube.classes.set("gp3", { name: "gp3", provisioner: "ebs.csi.aws.com", parameters: {} });
  kube.pvcs.set("app/wait", {
    name: "wait",
    namespace: "app",
    uid: "u",
    phase: "Pending",
    storageClassName: "gp3",
    accessModes: [],
  });
  const facts = await resolver(kube).resolve("app", ["ebs", "wait"], false);
  assertEquals([...facts.values()], [{ kind: "foreign" }, { kind: "foreign" }]);
  assertEquals(kube.writes, 0);
});

Deno.test("resolve: a PV bound to another claim, and Kubernetes before 1.29, are refused", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "data");
  const pv = kube.pvs.get("pv-data")!;
  kube.pvs.set("pv-data", { ...pv, claimRef: { namespace: "victim", name: "data" } });
  assertMatch(
    refusal((await resolver(kube).resolve("app", ["data"], false)).get("data")),
    /not bound to PVC app\/data/,
  );
  kube.pvs.set("pv-data", pv);
  kube.version = { major: 1, minor: 28, gitVersion: "v1.28.9" };
  assertMatch(
    refusal((await resolver(kube).resolve("app", ["data"], false)).get("data")),
    /^Kubernetes v1\.28\.9 has no native sidecars: .*1\.29 or newer$/,
  );
});

Deno.test("resolve: ReadOnlyMany claims are read-only", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "ro", { accessModes: ["ReadOnlyMany"] });
  const f = (await resolver(kube).resolve("app", ["ro"], false)).get("ro");
  assert(f?.kind === "ours");
  assertEquals(f.readOnly, true);
});

Deno.test("resolve: a Secret of the same name made by someone else is not overwritten", async () => {
  const kube = new FakeInjectorKube();
  kube.addBoundClaim("app", "data");
  const r = resolver(kube);
  const f = (await r.resolve("app", ["data"], true)).get("data");
  assert(f?.kind === "ours");
  kube.secrets.set(`app/${f.settingsSecret}`, {
    name: f.settingsSecret,
    namespace: "app",
    data: { mine: "x" },
  });
  assertMatch(refusal((await r.resolve("app", ["data"], false)).get("data")), /not managed by csi-jfs/);
  assertEquals(kube.secrets.get(`app/${f.settingsSecret}`)?.data, { mine: "x" });
});

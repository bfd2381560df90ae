// The sidecar injector over loopback HTTPS, as a process of its own (webhook_child.ts) with an
// in-memory API: a correct review gets a patch that, applied, is the expected pod; a pod with
// no PVC of ours gets no patch; 1,000 malformed or hostile bodies are each answered with a
// 4xx or an AdmissionReview (a denial, or an allowance whose patch applies), never a crash,
// and the process's RSS before and after is printed. No cluster, no network but 127.0.0.1.
import { join } from "node:path";
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { applyJsonPatch } from "../../lib/testing/json_patch.ts";
import { ROOT, waitFor } from "../support/driver.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const DENO = Deno.execPath();
const MUTATE = "/mutate-pods";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The V8 flags bin/csi-jfs (the image's entrypoint) runs every daemon with: the RSS measured is a deployment's. */
const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--optimize-for-size";

async function rssKb(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(await Deno.readTextFile(`/proc/${pid}/status`));
  return Number(m?.[1] ?? NaN);
}

class Injector {
  child!: Deno.ChildProcess;
  client!: Deno.HttpClient;
  port = freePort();
  dir = Deno.makeTempDirSync({ prefix: "webhook-test-" });

  async start(): Promise<void> {
    const ca = join(this.dir, "ca.pem");
    this.child = new Deno.Command(DENO, {
      args: [
        "run",
        "--quiet",
        "-A",
        V8_FLAGS,
        join(ROOT, "tests/integration/webhook_child.ts"),
        String(this.port),
        ca,
      ],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    await waitFor(
      "the injector serving",
      60_000,
      async () => (await Deno.readTextFile(ca)).includes("BEGIN"),
    );
    this.client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
  }

  async post(
    body: string | Uint8Array,
    o: { type?: string; method?: string; path?: string } = {},
  ): Promise<{ status: number; text: string }> {
    const r = await fetch(`https://127.0.0.1:${this.port}${o.path ?? MUTATE}`, {
      method: o.method ?? "POST",
      headers: { "content-type": o.type ?? "application/json" },
      ...(o.method === "GET" ? {} : { body: body as BodyInit }),
      client: this.client,
    });
    return { status: r.status, text: await r.text() };
  }

  async stop(): Promise<Deno.CommandStatus> {
    this.child.kill("SIGTERM");
    const s = await this.child.status;
    this.client.close();
    await Deno.remove(this.dir, { recursive: true });
    return s;
  }
}

const UID = "6e0b7a4c-0000-4000-8000-000000000000";
const pod = (spec: Any, metadata: Any = { name: "p" }) => ({ apiVersion: "v1", kind: "Pod", metadata, spec });
const review = (object: unknown, over: Any = {}) =>
  JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: UID,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      operation: "CREATE",
      namespace: "app",
      object,
      ...over,
    },
  });
const appPod = () =>
  pod({
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }, { name: "tmp", emptyDir: {} }],
    containers: [{
      name: "app",
      image: "busybox",
      volumeMounts: [{ name: "data", mountPath: "/data", subPath: "out" }, {
        name: "tmp",
        mountPath: "/tmp",
      }],
    }],
  });

Deno.test("webhook: a correct review is patched into the injected pod; other pods get no patch", async () => {
  const inj = new Injector();
  await inj.start();
  try {
    const p = appPod();
    const a = await inj.post(review(p));
    assertEquals(a.status, 200);
    const r = JSON.parse(a.text).response;
    assertEquals([r.uid, r.allowed, r.patchType], [UID, true, "JSONPatch"]);
    const out: Any = applyJsonPatch(p, JSON.parse(atob(r.patch)));
    const [sc] = out.spec.initContainers;
    assertEquals(out.spec.volumes, [{ name: "data", emptyDir: {} }, { name: "tmp", emptyDir: {} }, {
      name: `${sc.name}-cache`,
      emptyDir: {},
    }]);
    assertEquals(sc.image, "csi-jfs:test");
    assertEquals(sc.restartPolicy, "Always");
    assertEquals(sc.args, ["--mode=mount-supervisor"]);
    assertEquals(sc.env[0].valueFrom.secretKeyRef.key, "settings");
    assertEquals(sc.volumeMounts[0], {
      name: "data",
      mountPath: "/jfs/data",
      mountPropagation: "Bidirectional",
    });
    assertEquals(out.spec.containers[0].volumeMounts, [
      { name: "data", mountPath: "/data", subPath: "out", mountPropagation: "HostToContainer" },
      { name: "tmp", mountPath: "/tmp" },
    ]);
    assert(!a.text.includes("hunter2") && !atob(r.patch).includes("hunter2"), "no secret in the answer");
    console.log(`startupProbe: ${sc.startupProbe.exec.command[2]}`);
    for (
      const other of [
        pod({ containers: [{ name: "a", image: "x" }] }),
        pod({ volumes: [{ name: "e", persistentVolumeClaim: { claimName: "ebs" } }], containers: [] }),
      ]
    ) {
      const o = JSON.parse((await inj.post(review(other))).text).response;
      assertEquals(o, { uid: UID, allowed: true }, "no patch field at all");
    }
  } finally {
    assertEquals((await inj.stop()).code, 0, "SIGTERM: exit 0");
  }
});

/** A small seeded PRNG: the same 1,000 bodies on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Body = { body: string | Uint8Array; type?: string; method?: string; path?: string; kind: string };

function hostileBodies(n: number, seed: number): Body[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const weirdNames = [
    "a/b",
    "~0~1",
    "..",
    "",
    "x".repeat(300),
    "Ünïcode",
    "a b",
    "a\u0000b",
    '"quoted"',
    "-lead",
    "UPPER",
  ];
  const weird: (() => Any)[] = [
    () => ({
      volumes: [{ name: pick(weirdNames), persistentVolumeClaim: { claimName: "data" } }],
      containers: [],
    }),
    () => ({
      volumes: [{
        name: "v",
        persistentVolumeClaim: { claimName: pick([3, {}, null, [], "x".repeat(5000)]) },
      }],
    }),
    () => ({ volumes: "all of them", containers: [] }),
    () => ({
      volumes: [{ name: "v", persistentVolumeClaim: { claimName: "data" } }],
      containers: [{ name: "a", volumeMounts: "nope" }],
    }),
    () => ({
      volumes: Array.from(
        { length: 3000 },
        (_, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: "data" } }),
      ),
      containers: [{ name: "a", volumeMounts: [{ name: "v1", mountPath: "/x", subPath: "../../etc" }] }],
    }),
    () => ({
      volumes: [{
        name: "v",
        persistentVolumeClaim: { claimName: pick(["missing", "shared", "ebs", "data"]) },
      }],
      containers: [{ name: "a", volumeDevices: [{ name: "v", devicePath: "/dev/xvda" }] }],
    }),
    () => ({
      volumes: [{ name: "v", persistentVolumeClaim: { claimName: "data" }, emptyDir: {} }],
      containers: [null],
    }),
    () => ({ volumes: [{ name: "v", ephemeral: { volumeClaimTemplate: { spec: {} } } }], containers: [] }),
  ];
  const breaking = (): Any =>
    pod(
      {
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: pick(["data", "shared"]) } }],
        initContainers: pick([undefined, [], [{
          name: "csi-jfs-fake",
          env: [{ name: "CSI_JFS_VOLUME_BINDS", value: "{bad" }],
        }]]),
        containers: [{
          name: pick(['a"b', "c/d", "e~f"]),
          volumeMounts: [{ name: "data", mountPath: "/d~/x" }],
        }],
      },
      pick([
        undefined,
        { name: "p", annotations: { "a/b~c": "1", "jfs.csi.dev/injected": "x" } },
        { generateName: "~/", labels: { "x/y": "z" } },
        { annotations: "not a map" },
      ]),
    );
  const out: Body[] = [];
  const valid = review(appPod());
  for (let i = 0; out.length < n; i++) {
    switch (i % 12) {
      case 0:
        out.push({
          kind: "bytes",
          body: crypto.getRandomValues(new Uint8Array(new ArrayBuffer(1 + Math.floor(r() * 4096)))),
        });
        break;
      case 1:
        out.push({ kind: "truncated", body: valid.slice(0, Math.floor(r() * valid.length)) });
        break;
      case 2:
        out.push({
          kind: "not-a-review",
          body: pick(["null", "1", '"s"', "[]", "{}", "[[[]]]", "true", '{"kind":"Pod"}']),
        });
        break;
      case 3:
        out.push({
          kind: "bad-envelope",
          body: JSON.stringify({
            apiVersion: pick(["admission.k8s.io/v1beta1", "v1", 7, undefined]),
            kind: pick(["AdmissionReview", "Pod"]),
            request: pick([undefined, null, { uid: pick([1, "", "x".repeat(200), "../../"]) }]),
          }),
        });
        break;
      case 4:
        out.push({
          kind: "wrong-request",
          body: review(
            appPod(),
            pick([
              { kind: { group: "apps", version: "v1", kind: "Deployment" } },
              { kind: { group: "", version: "v2", kind: "Pod" } },
              { operation: pick(["UPDATE", "DELETE", "CONNECT", 1]) },
              { namespace: pick(["", "a/b", "UPPER", 5, "x".repeat(70)]) },
              { object: pick([null, 1, "pod", [], {}]) },
            ]),
          ),
        });
        break;
      case 5:
      case 6:
        out.push({ kind: "weird-volumes", body: review(pod(pick(weird)())) });
        break;
      case 7:
        out.push({ kind: "patch-breaking", body: review(breaking(), { dryRun: r() < 0.3 }) });
        break;
      case 8:
        out.push(
          i % 48 === 8
            ? { kind: "huge", body: `{"apiVersion":"admission.k8s.io/v1","pad":"${"x".repeat(3_300_000)}"}` }
            : {
              kind: "deep",
              body: "[".repeat(1 + Math.floor(r() * 200_000)) + "]".repeat(Math.floor(r() * 10)),
            },
        );
        break;
      case 9:
        out.push({
          kind: "http",
          body: valid,
          ...pick([
            { type: "text/plain" },
            { type: "application/x-www-form-urlencoded" },
            { method: "PUT" },
            {
              method: "GET",
            },
            { path: "/mutate" },
            { path: "/../mutate-pods" },
          ]),
        });
        break;
      case 10:
        out.push({
          kind: "big-valid",
          body: review(pod(appPod().spec, { name: "p", annotations: { pad: "y".repeat(1_000_000) } })),
        });
        break;
      case 11:
        out.push({
          kind: "unicode",
          body: review(pod({ containers: [{ name: "\ud800", image: "\u202e" }] })),
        });
        break;
    }
  }
  return out;
}

/** Whether an answer is one the API server can use: a 4xx, or a review with the request's uid. */
function judge(b: Body, a: { status: number; text: string }): string {
  if (a.status >= 400 && a.status < 500) return `http-${a.status}`;
  assertEquals(a.status, 200, `${b.kind}: status ${a.status}: ${a.text.slice(0, 200)}`);
  const resp = JSON.parse(a.text).response;
  assertEquals(resp.uid, UID, `${b.kind}: uid echoed`);
  if (!resp.allowed) {
    assert(typeof resp.status?.message === "string" && !resp.status.message.includes("\n"), b.kind);
    return "denied";
  }
  if (!resp.patch) return "allowed";
  const object = JSON.parse(typeof b.body === "string" ? b.body : "").request.object;
  const patched = applyJsonPatch(object, JSON.parse(atob(resp.patch)));
  assert(JSON.stringify(patched).length > 0, `${b.kind}: the patch applies`);
  return "patched";
}

Deno.test("webhook: 1,000 malformed or hostile reviews are all answered; the injector stays up and flat", async () => {
  const inj = new Injector();
  await inj.start();
  try {
    const pid = inj.child.pid;
    const start = await rssKb(pid);
    const round = async (seed: number) => {
      const bodies = hostileBodies(1000, seed);
      const tally = new Map<string, number>();
      let next = 0;
      const worker = async () => {
        while (next < bodies.length) {
          const b = bodies[next++] as Body;
          const a = await inj.post(b.body, b);
          const verdict = `${b.kind}:${judge(b, a)}`;
          tally.set(verdict, (tally.get(verdict) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
      return tally;
    };
    // A first round grows the heap to its working size (JIT, TLS, the V8 heap sized for
    // megabyte bodies); the second is the measured one: the same load must not grow it further.
    await round(1);
    const before = await rssKb(pid);
    const tally = await round(7);
    const after = await rssKb(pid);
    console.log(`injector RSS: ${start} kB at start, ${before} kB after a first round of 1,000`);
    const answered = [...tally.values()].reduce((x, y) => x + y, 0);
    console.log(`answers: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);
    console.log(
      `hostile reviews: ${answered} sent, ${answered} answered; injector RSS ${before} kB before, ${after} kB after`,
    );
    assertEquals(answered, 1000);
    // Still serving, and correctly.
    const ok = JSON.parse((await inj.post(review(appPod()))).text).response;
    assertEquals([ok.allowed, ok.patchType], [true, "JSONPatch"]);
    assert(after < before + 24 * 1024, `RSS grew from ${before} kB to ${after} kB`);
  } finally {
    assertEquals((await inj.stop()).code, 0, "SIGTERM: exit 0");
  }
});

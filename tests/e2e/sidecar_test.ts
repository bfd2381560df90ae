// Sidecar mode (deploy/sidecar-injector, tests/e2e/overlay-sidecar): in a namespace labelled
// for injection a pod using a PVC of ours gets its own JuiceFS client as a native sidecar; a
// Job completes; nothing else is touched; what cannot work is refused with the reason; the
// injector keeps its certificate over a restart. The tests run in order and share the claim.
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import { apply, events, exec, getJson, kubectl, type Obj, pvc, waitFor } from "./kube.ts";
import {
  appPod,
  DRIVER_NS,
  E2E_LABEL,
  mountPodsServing,
  podProcesses,
  storageClass,
  volumeHandle,
} from "./mount_pods.ts";

const ignore = Deno.env.get("E2E_SIDECAR") !== "1";
if (ignore && Deno.env.get("E2E_DRIVER_DEPLOYED") === "1") {
  console.log(
    "sidecar cases skipped: deploy/ has no sidecar-injector component, or the node plugin is not in pod mode",
  );
}
const INJ = "csi-jfs-e2e-inject";
const PLAIN = "csi-jfs-e2e";
const WEBHOOK = "csi-jfs-sidecar-injector";
const INJECTOR_ADDR = "127.0.100.43:9443";
const SERVER_NAME = `${WEBHOOK}.${DRIVER_NS}.svc`;
let written = "";

async function explain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    console.error(`events in ${INJ}:\n${await events(INJ)}`);
    throw e;
  }
}

/** What the API server makes of `pod` after admission, without creating it. */
async function dryRun(pod: Obj): Promise<Obj> {
  return JSON.parse(
    await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(pod)),
  );
}

function injectedInto(pod: Obj): boolean {
  return Boolean(pod.metadata.annotations?.["jfs.csi.dev/injected"]) ||
    (pod.spec.initContainers ?? []).some((c: Obj) => c.restartPolicy === "Always");
}

/** The pod as admitted, less what the API adds to every pod (the service account token volume). */
function asSubmitted(pod: Obj): Obj {
  const token = (n: string) => n.startsWith("kube-api-access-");
  return {
    initContainers: pod.spec.initContainers ?? [],
    volumes: pod.spec.volumes.filter((v: Obj) => !token(v.name)),
    mounts: pod.spec.containers.map((c: Obj) => (c.volumeMounts ?? []).filter((m: Obj) => !token(m.name))),
    annotations: Object.keys(pod.metadata.annotations ?? {}).filter((k) => k.startsWith("jfs.csi.dev/")),
  };
}

async function injectorPod(): Promise<Obj> {
  const pods = (await getJson(["-n", DRIVER_NS, "get", "pods", "-l", `app=${WEBHOOK}`])).items as Obj[];
  const ready = pods.filter((p) =>
    !p.metadata.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c: Obj) => c.type === "Ready" && c.status === "True")
  );
  assertEquals(ready.length, 1, `ready injector pods: ${pods.map((p) => p.metadata.name)}`);
  return ready[0];
}

/** SHA-256 of the certificate the webhook serves, as kube-apiserver reaches it. */
async function servedCert(): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `openssl s_client -connect ${INJECTOR_ADDR} -servername ${SERVER_NAME} </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256`,
    ],
    stdout: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const fp = new TextDecoder().decode(out.stdout).trim();
  assertMatch(fp, /Fingerprint=/, "no certificate from the webhook");
  return fp;
}

Deno.test({
  name: "sidecar: a Job in a labelled namespace writes through its own client and completes",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: INJ, labels: { "jfs.csi.dev/inject": "enabled", [E2E_LABEL]: "true" } },
      });
      await apply(pvc(INJ, "shared", "1Gi"));
      await waitFor("claim shared to bind", async () => {
        const c = await getJson(["-n", INJ, "get", "pvc", "shared"]);
        return c.status?.phase === "Bound" ? true : undefined;
      }, 180_000);
      const pod = appPod(
        INJ,
        "x",
        ["shared"],
        "head -c 262144 /dev/urandom > /data/blob && sha256sum /data/blob",
      );
      await apply({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { namespace: INJ, name: "writer" },
        spec: {
          backoffLimit: 0,
          template: { spec: { ...pod.spec, restartPolicy: "Never", terminationGracePeriodSeconds: 5 } },
        },
      });
      const job = await waitFor("Job writer to finish", async () => {
        const j = await getJson(["-n", INJ, "get", "job", "writer"]);
        const done = (j.status?.conditions ?? []).find((c: Obj) =>
          (c.type === "Complete" || c.type === "Failed") && c.status === "True"
        );
        return done ? j : undefined;
      }, 180_000);
      const jp = (await getJson(["-n", INJ, "get", "pods", "-l", "job-name=writer"])).items[0];
      assert(jp, "the Job's pod is gone");
      const log = await kubectl(["-n", INJ, "logs", jp.metadata.name, "-c", "app"]);
      assert(
        job.status.succeeded === 1,
        `Job writer did not complete: ${JSON.stringify(job.status)}\n${log}`,
      );
      assert(injectedInto(jp), `no sidecar was injected into ${jp.metadata.name}`);
      const main = jp.status.containerStatuses.find((c: Obj) => c.name === "app");
      const exited = Date.parse(main.state.terminated.finishedAt);
      const completed = Date.parse(job.status.completionTime);
      const secs = (completed - exited) / 1000;
      console.log(
        `Job complete ${secs.toFixed(0)} s after its main container exited (timestamps to the second)`,
      );
      assert(secs <= 60, `the Job completed ${secs} s after its main container exited`);
      written = log.trim().split(/\s+/)[0] ?? "";
      assertMatch(written, /^[0-9a-f]{64}$/);
    }),
});

Deno.test({
  name: "sidecar: a Deployment's pod in the namespace reads the same bytes, no node plugin involved",
  ignore,
  fn: () =>
    explain(async () => {
      assert(written, "needs the Job's checksum (previous test)");
      const pod = appPod(INJ, "x", ["shared"], "sha256sum /data/blob; while :; do sleep 1; done");
      await apply({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { namespace: INJ, name: "reader" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "reader" } },
          template: {
            metadata: { labels: { app: "reader" } },
            spec: { ...pod.spec, terminationGracePeriodSeconds: 5 },
          },
        },
      });
      await kubectl(
        ["-n", INJ, "rollout", "status", "deployment/reader", "--timeout=180s"],
        undefined,
        200_000,
      );
      const rp = (await getJson(["-n", INJ, "get", "pods", "-l", "app=reader"])).items[0];
      assert(injectedInto(rp), `no sidecar in ${rp.metadata.name}`);
      const sum = await waitFor("the reader's checksum", async () => {
        const l = (await kubectl(["-n", INJ, "logs", rp.metadata.name, "-c", "app"])).trim();
        return l ? l.split(/\s+/)[0] : undefined;
      });
      assertEquals(sum, written);
      const mounts = await exec(INJ, rp.metadata.name, ["grep", " /data ", "/proc/mounts"]);
      assertMatch(mounts, /fuse\.juicefs/, "the app's /data is not a JuiceFS mount");

      const handle = await volumeHandle(INJ, "shared");
      const nodeLog = await kubectl([
        "-n",
        DRIVER_NS,
        "logs",
        "daemonset/csi-jfs-node",
        "-c",
        "csi-jfs",
        "--tail=-1",
      ]);
      assert(!nodeLog.includes(handle), `the node plugin logged calls for ${handle}`);
      assertEquals((await mountPodsServing(handle)).length, 0, "a Mount Pod serves the injected volume");
      await kubectl(["-n", INJ, "delete", "deployment", "reader", "--wait=true", "--timeout=120s"]);
    }),
});

Deno.test({
  name: "sidecar: pods of unlabelled namespaces, and pods with no PVC of ours, are admitted unchanged",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: PLAIN } });
      await apply(pvc(PLAIN, "plain", "1Gi"));
      const plain = appPod(PLAIN, "plain", ["plain"], "true");
      const before = asSubmitted(JSON.parse(JSON.stringify({ ...plain, spec: { ...plain.spec } })));
      assertEquals(asSubmitted(await dryRun(plain)), before, "a pod of an unlabelled namespace was changed");
      const scratch = {
        ...plain,
        metadata: { namespace: INJ, name: "scratch" },
        spec: { ...plain.spec, volumes: [{ name: "plain", emptyDir: {} }] },
      };
      assertEquals(
        asSubmitted(await dryRun(scratch)),
        asSubmitted(scratch),
        "an emptyDir-only pod was changed",
      );
      await kubectl(["-n", PLAIN, "delete", "pvc", "plain", "--timeout=120s"]);
    }),
});

Deno.test({
  name: "sidecar: a pod on an unbound PVC in a labelled namespace is refused with the reason",
  ignore,
  fn: () =>
    explain(async () => {
      await apply({ ...storageClass("e2e-late-binding"), volumeBindingMode: "WaitForFirstConsumer" });
      await apply(pvc(INJ, "unbound", "1Gi", "e2e-late-binding"));
      const err = await dryRun(appPod(INJ, "on-unbound", ["unbound"], "true")).then(
        () => "",
        (e) => String(e),
      );
      console.log(`refused: ${err.split("\n").pop()}`);
      assertMatch(err, /denied/, "the pod was admitted");
      assertMatch(err, /bound|Immediate/i, "the refusal does not say the claim is not bound");
      await kubectl(["-n", INJ, "delete", "pvc", "unbound", "--timeout=60s"]);
    }),
});

Deno.test({
  name: "sidecar: a restarted injector serves the same certificate and still injects",
  ignore,
  fn: () =>
    explain(async () => {
      const caOf = async () =>
        (await getJson(["get", "mutatingwebhookconfiguration", WEBHOOK])).webhooks.map((w: Obj) =>
          w.clientConfig.caBundle
        );
      const [ca, cert, old] = [await caOf(), await servedCert(), await injectorPod()];
      await kubectl(["-n", DRIVER_NS, "delete", "pod", old.metadata.name, "--wait=true", "--timeout=120s"]);
      await waitFor("a new injector pod to be Ready", async () => {
        const p = await injectorPod().catch(() => undefined);
        return p && p.metadata.uid !== old.metadata.uid ? p : undefined;
      }, 180_000);
      assertEquals(await caOf(), ca, "the webhook's caBundle changed");
      assertEquals(await servedCert(), cert, "the served certificate changed");
      const again = await dryRun(appPod(INJ, "after-restart", ["shared"], "true"));
      assert(injectedInto(again), "a pod created after the restart got no sidecar");
    }),
});

Deno.test({
  name: "sidecar: 1,000 malformed or hostile AdmissionReview bodies are all answered, memory stays flat",
  ignore,
  fn: () =>
    explain(async () => {
      const inj = await injectorPod();
      const rss = async () => {
        const pids = await podProcesses(inj.metadata.uid, "deno");
        let kib = 0;
        for (const pid of pids) {
          const m = /VmRSS:\s+(\d+)/.exec(await Deno.readTextFile(`/proc/${pid}/status`));
          kib += Number(m?.[1] ?? 0);
        }
        return kib;
      };
      const before = await rss();
      const ca =
        (await getJson(["get", "mutatingwebhookconfiguration", WEBHOOK])).webhooks[0].clientConfig.caBundle;
      const dir = await Deno.makeTempDir({ prefix: "csi-jfs-e2e-hostile-" });
      try {
        await Deno.writeTextFile(`${dir}/ca.pem`, atob(ca));
        const bodies = [
          "{",
          "null",
          "[]",
          '"x"',
          '{"kind":"AdmissionReview"}',
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}}',
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Secret"},"object":{}}}',
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"object":{"spec":{"volumes":"nope"}}}}',
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"namespace":"../x","object":{"metadata":{},"spec":{"containers":[{"name":"a"}],"volumes":[{"name":"v","persistentVolumeClaim":{"claimName":"../../etc"}}]}}}}',
          `{"a":"${"x".repeat(8 << 20)}"}`,
        ];
        for (const [i, b] of bodies.entries()) await Deno.writeTextFile(`${dir}/${i}.json`, b);
        // One shell runs the 1,000 requests: status codes, one per line (000: no answer).
        const script = `for i in $(seq 0 999); do
          curl -s -o /dev/null -w '%{http_code}\\n' --max-time 10 --cacert ${dir}/ca.pem \\
            --resolve ${SERVER_NAME}:9443:127.0.100.43 -H 'Content-Type: application/json' \\
            --data-binary @${dir}/$((i % ${bodies.length})).json https://${SERVER_NAME}:9443/mutate-pods
        done`;
        const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
        const codes = new TextDecoder().decode(out.stdout).trim().split("\n");
        const tally = new Map<string, number>();
        for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
        const after = await rss();
        console.log(
          `codes: ${
            [...tally].map(([c, n]) => `${c}×${n}`).join(", ")
          }; injector RSS ${before} KiB before, ${after} KiB after`,
        );
        assertEquals(codes.length, 1000);
        const bad = codes.filter((c) => !/^(2|4)\d\d$/.test(c));
        assertEquals(bad.length, 0, `answers neither 2xx (a denial) nor 4xx: ${bad.slice(0, 5)}`);
        const now = await injectorPod();
        assertEquals(now.metadata.uid, inj.metadata.uid, "the injector pod was replaced");
        assertEquals(
          now.status.containerStatuses[0].restartCount,
          inj.status.containerStatuses[0].restartCount,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
});

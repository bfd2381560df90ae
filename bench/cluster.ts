// `make bench-cluster` (row 9 of `make bench`): on the test cluster, when it is up and the driver
// is deployed (make cluster-up, then tests/e2e/run.sh or kubectl apply -k tests/e2e/overlay),
// the time from `kubectl apply` to Running of a pod whose csi-jfs volume's client already runs
// on the node, against the same pod with an emptyDir. It never starts, stops or redeploys the
// cluster: it works in its own namespace and deletes only that. Without a cluster it says so
// and exits 0.
import { printTable, type Row } from "./report.ts";
import { summarize } from "./stats.ts";

const CACHE = Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs";
const KUBECONFIG = Deno.env.get("KUBECONFIG") ?? "/var/lib/csi-jfs-cluster/admin.kubeconfig";
const STORAGE_CLASS = Deno.env.get("BENCH_STORAGE_CLASS") ?? "juicefs-e2e";
const IMAGE = Deno.env.get("BENCH_POD_IMAGE") ?? "localhost/csi-jfs/pause:3.10.1";
const RUNS = Number(Deno.env.get("BENCH_POD_RUNS") ?? 10);
const NS = "csi-jfs-bench";

async function kubectlPath(): Promise<string | undefined> {
  try {
    for await (const e of Deno.readDir(CACHE)) {
      const p = `${CACHE}/${e.name}/bin/kubectl`;
      if (e.name.startsWith("k8s-") && (await Deno.stat(p).then(() => true, () => false))) return p;
    }
  } catch { /* no cache */ }
  return undefined;
}

async function kubectl(bin: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(bin, {
    args: ["--kubeconfig", KUBECONFIG, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.status,
  ]);
  if (!status.success) throw new Error(`kubectl ${args.join(" ")}: ${err.trim()}`);
  return out.trim();
}

const pod = (name: string, volume: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "c", image: IMAGE, volumeMounts: [{ name: "v", mountPath: "/data" }] }],
      volumes: [{ name: "v", ...volume }],
    },
  });

const CSI_VOLUME = { persistentVolumeClaim: { claimName: "bench" } };
const EMPTY_DIR = { emptyDir: {} };

async function whyNot(k: string | undefined): Promise<string | undefined> {
  if (!k) return "no kubectl in the tool cache (make cluster-up builds it)";
  if (!(await Deno.stat(KUBECONFIG).then(() => true, () => false))) return `no kubeconfig at ${KUBECONFIG}`;
  try {
    await kubectl(k, ["get", "--raw=/readyz"]);
    await kubectl(k, ["get", "storageclass", STORAGE_CLASS]);
    await kubectl(k, ["-n", "csi-jfs", "rollout", "status", "daemonset/csi-jfs-node", "--timeout=5s"]);
  } catch (e) {
    return `the cluster or the driver is not up (${(e as Error).message.split("\n")[0]})`;
  }
  return undefined;
}

/** Milliseconds from `kubectl apply` to the pod Running, then deletes it. */
async function podStart(k: string, name: string, volume: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  await kubectl(k, ["apply", "-f", "-"], pod(name, volume));
  await kubectl(k, [
    "-n",
    NS,
    "wait",
    `pod/${name}`,
    "--for=jsonpath={.status.phase}=Running",
    "--timeout=120s",
  ]);
  const ms = performance.now() - t0;
  await kubectl(k, ["-n", NS, "delete", "pod", name, "--wait=true", "--timeout=120s"]);
  return ms;
}

const k = await kubectlPath();
const skip = await whyNot(k);
if (skip || !k) {
  console.log(`bench-cluster: skipped: ${skip}`);
  Deno.exit(0);
}
try {
  await kubectl(k, ["create", "namespace", NS]).catch(() => {});
  await kubectl(
    k,
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "bench", namespace: NS },
      spec: {
        accessModes: ["ReadWriteMany"],
        storageClassName: STORAGE_CLASS,
        resources: { requests: { storage: "1Gi" } },
      },
    }),
  );
  // The holder keeps the volume staged and its client running on the node: the pods measured
  // below only publish.
  await kubectl(k, ["apply", "-f", "-"], pod("holder", CSI_VOLUME));
  await kubectl(k, [
    "-n",
    NS,
    "wait",
    "pod/holder",
    "--for=jsonpath={.status.phase}=Running",
    "--timeout=300s",
  ]);
  const csi: number[] = [], empty: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    csi.push(await podStart(k, `csi-${i}`, CSI_VOLUME));
    empty.push(await podStart(k, `empty-${i}`, EMPTY_DIR));
    console.error(
      `  round ${i + 1}: csi-jfs ${Math.round(csi.at(-1)!)} ms, emptyDir ${Math.round(empty.at(-1)!)} ms`,
    );
  }
  const c = summarize(csi), e = summarize(empty);
  const row: Row = {
    name: "pod start with a warm csi-jfs client (kubectl apply → Running)",
    unit: "ms",
    value: c.p50,
    p95: c.p95,
    runs: c.runs,
    floor: e.p50,
    ratio: c.p50 / e.p50,
    target: { ratio: 1.3, what: "≤ 1.3× the emptyDir pod" },
  };
  await printTable([row, {
    name: "emptyDir pod (the floor)",
    unit: "ms",
    value: e.p50,
    p95: e.p95,
    runs: e.runs,
  }], {
    runs: RUNS,
  }, "cluster");
} finally {
  await kubectl(k, ["delete", "namespace", NS, "--wait=true", "--timeout=300s"]).catch((e) =>
    console.error(`could not delete namespace ${NS}: ${e}`)
  );
}

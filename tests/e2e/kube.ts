// kubectl for the e2e suite: the binary and kubeconfig come from tests/e2e/run.sh
// (KUBECTL, KUBECONFIG); every call is bounded in time and fails with its stderr.

const KUBECTL = Deno.env.get("KUBECTL") ?? "kubectl";
export const NODE_NAME = Deno.env.get("E2E_NODE_NAME") ?? "127.0.0.1";
export const DRIVER = Deno.env.get("E2E_DRIVER_NAME") ?? "jfs.csi.dev";
export const STORAGE_CLASS = "juicefs-e2e";
export const APP_IMAGE = "localhost/csi-jfs/busybox:e2e";

// deno-lint-ignore no-explicit-any
export type Obj = any;

export async function kubectl(args: string[], stdin?: string, timeoutMs = 120_000): Promise<string> {
  const cmd = new Deno.Command(KUBECTL, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  });
  const child = cmd.spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`kubectl ${args.join(" ")} failed (${out.code}): ${err}`);
  }
  return text;
}

export async function getJson(args: string[]): Promise<Obj> {
  return JSON.parse(await kubectl([...args, "-o", "json"]));
}

/** The object, or undefined when the API says it does not exist. */
export async function getOrUndefined(args: string[]): Promise<Obj | undefined> {
  const out = await kubectl([...args, "-o", "json", "--ignore-not-found"]);
  return out.trim() === "" ? undefined : JSON.parse(out);
}

export async function apply(obj: Obj): Promise<void> {
  await kubectl(["apply", "-f", "-"], JSON.stringify(obj));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
  everyMs = 1000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${last}` : ""}`);
}

export function pvc(namespace: string, name: string, size: string, storageClass = STORAGE_CLASS): Obj {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { namespace, name },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: storageClass,
      resources: { requests: { storage: size } },
    },
  };
}

/** A run-once busybox pod, an ordinary one (its own network namespace, no hostNetwork), with
 * the claim mounted at /data. */
export function shellPod(
  namespace: string,
  name: string,
  claim: string,
  script: string,
  readOnly = false,
): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: {
      restartPolicy: "Never",
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: "app",
        image: APP_IMAGE,
        imagePullPolicy: "Never",
        command: ["/bin/sh", "-c", script],
        volumeMounts: [{ name: "data", mountPath: "/data" }],
      }],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: claim, readOnly } }],
    },
  };
}

/** Runs a shellPod to completion and returns its phase and log. */
export async function runPod(pod: Obj, timeoutMs = 180_000): Promise<{ phase: string; log: string }> {
  const { namespace, name } = pod.metadata;
  await apply(pod);
  const phase = await waitFor(`pod ${namespace}/${name} to finish`, async () => {
    const p = await getJson(["-n", namespace, "get", "pod", name]);
    const ph = p.status?.phase;
    return ph === "Succeeded" || ph === "Failed" ? ph as string : undefined;
  }, timeoutMs);
  const log = await kubectl(["-n", namespace, "logs", name]);
  await kubectl(["-n", namespace, "delete", "pod", name, "--wait=true", "--timeout=120s"]);
  return { phase, log };
}

/** Events of a namespace, oldest first, one per line: what to print when a step fails. */
export async function events(namespace: string): Promise<string> {
  return await kubectl(["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]).catch((e) => `${e}`);
}

/** Runs a command in a running pod's first container; its stdout. */
export async function exec(namespace: string, pod: string, command: string[]): Promise<string> {
  return await kubectl(["-n", namespace, "exec", pod, "--", ...command]);
}

/** Applies `pod` and waits until it is Running; the pod as the API then shows it. */
export async function startPod(pod: Obj, timeoutMs = 180_000): Promise<Obj> {
  const { namespace, name } = pod.metadata;
  await apply(pod);
  return await waitFor(`pod ${namespace}/${name} to run`, async () => {
    const p = await getJson(["-n", namespace, "get", "pod", name]);
    if (p.status?.phase === "Failed" || p.status?.phase === "Succeeded") {
      throw new Error(`pod ${namespace}/${name} ended: ${JSON.stringify(p.status)}`);
    }
    return p.status?.phase === "Running" ? p : undefined;
  }, timeoutMs);
}

/** A busybox pod that sleeps until it is deleted: something to exec into. */
export function sleeperPod(namespace: string, name: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: "app",
        image: APP_IMAGE,
        imagePullPolicy: "Never",
        command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
      }],
    },
  };
}

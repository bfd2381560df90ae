// What the Mount Pod cases share: their StorageClasses and Secrets, the Mount Pods the node
// plugin made (--mount-mode=pod), a watch that sees every Mount Pod ever created, long-running
// app pods, and the juicefs processes of a pod as the host sees them.
import { APP_IMAGE, DRIVER, getJson, kubectl, type Obj, waitFor } from "./kube.ts";

export const DRIVER_NS = "csi-jfs";
export const MOUNT_POD_SELECTOR = "app.kubernetes.io/name=csi-jfs-mount";
/** Cluster-scoped objects the suite makes carry this label; tests/e2e/run.sh deletes them. */
export const E2E_LABEL = "jfs.csi.dev/e2e";

/** The node plugin's --mount-mode, as tests/e2e/run.sh read it from the deployed DaemonSet. */
export const MOUNT_MODE = Deno.env.get("E2E_MOUNT_MODE") ?? "";
export const podModeIgnored = Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1" || MOUNT_MODE !== "pod";
/** Why the Mount Pod cases are skipped, printed once by mount_pod_sharing_test.ts. */
export const podModeSkipReason = Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1"
  ? "the driver is not deployed"
  : `the node plugin runs --mount-mode=${MOUNT_MODE || "?"} (deploy/node.yaml does not say --mount-mode=pod)`;

/** In pod mode the Mount Pods must see the test file system's files (sqlite3 and the bucket,
 * on the host): a host path mounted at the same path. As in tests/e2e/overlay/juicefs-e2e.yaml. */
export const MOUNT_POD_PARAMS: Record<string, string> = MOUNT_MODE === "pod"
  ? { mountHostPaths: "/var/lib/csi-jfs-e2e" }
  : {};

// One mark per run (tests/e2e/run.sh sets it) in every secret value the suite makes, so that
// no_secrets_test.ts can look for all of them at once.
const SECRET_MARK = Deno.env.get("E2E_SECRET_MARK") || crypto.randomUUID();
export const secretValue = (what: string): string => `${what}-${SECRET_MARK}`;
export const SECRET_MARK_RE = new RegExp(SECRET_MARK);

export function fsSecret(name: string, data: Record<string, string>): Obj {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace: DRIVER_NS, name, labels: { [E2E_LABEL]: "true" } },
    type: "Opaque",
    stringData: data,
  };
}

/** The embedded test file system's Secret data, under its own files when `tag` is given. */
export function e2eFs(tag = ""): Record<string, string> {
  const suffix = tag ? `-${tag}` : "";
  return {
    name: `e2e${suffix}`,
    metaurl: `sqlite3:///var/lib/csi-jfs-e2e/meta${suffix}.db`,
    storage: "file",
    bucket: `/var/lib/csi-jfs-e2e/bucket${suffix}/`,
  };
}

export function storageClass(
  name: string,
  opts: {
    mountOptions?: string[];
    secret?: string;
    stageSecret?: string;
    params?: Record<string, string>;
  } = {},
): Obj {
  const secret = opts.secret ?? "juicefs-e2e";
  const stage = opts.stageSecret ?? secret;
  const p = "csi.storage.k8s.io";
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name, labels: { [E2E_LABEL]: "true" } },
    provisioner: DRIVER,
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
    ...(opts.mountOptions ? { mountOptions: opts.mountOptions } : {}),
    parameters: {
      [`${p}/provisioner-secret-name`]: secret,
      [`${p}/provisioner-secret-namespace`]: DRIVER_NS,
      [`${p}/node-stage-secret-name`]: stage,
      [`${p}/node-stage-secret-namespace`]: DRIVER_NS,
      pathPattern: "${pvc.namespace}-${pvc.name}",
      onDelete: "delete",
      ...MOUNT_POD_PARAMS,
      ...opts.params,
    },
  };
}

export async function mountPods(): Promise<Obj[]> {
  return (await getJson(["-n", DRIVER_NS, "get", "pods", "-l", MOUNT_POD_SELECTOR])).items;
}

/** Mount Pods not in `before` (UIDs), i.e. made since. */
export async function mountPodsSince(before: Set<string>): Promise<Obj[]> {
  return (await mountPods()).filter((p) => !before.has(p.metadata.uid));
}

/** The volume handle of a bound claim's PV. */
export async function volumeHandle(namespace: string, claim: string): Promise<string> {
  const c = await getJson(["-n", namespace, "get", "pvc", claim]);
  const pv = await getJson(["get", "pv", c.spec.volumeName]);
  return pv.spec.csi.volumeHandle;
}

/** Mount Pods that say they serve the volume: a `jfs.csi.dev/volume.<hash>` annotation
 * whose value is its handle (what the README tells users to look for). */
export async function mountPodsServing(handle: string): Promise<Obj[]> {
  return (await mountPods()).filter((p) =>
    Object.entries(p.metadata.annotations ?? {}).some(([k, v]) =>
      k.startsWith("jfs.csi.dev/volume.") && v === handle
    )
  );
}

export async function mountPodUids(): Promise<Set<string>> {
  return new Set((await mountPods()).map((p) => p.metadata.uid as string));
}

/** Secrets in the driver's namespace owned by one of the pods `uids`. */
export async function ownedSecrets(uids: Set<string>): Promise<Obj[]> {
  const all = (await getJson(["-n", DRIVER_NS, "get", "secrets"])).items as Obj[];
  return all.filter((s) => (s.metadata.ownerReferences ?? []).some((o: Obj) => uids.has(o.uid)));
}

/** Waits until none of the pods `uids` exists any more, nor a Secret they own. */
export async function waitMountPodsGone(uids: Set<string>, timeoutMs = 180_000): Promise<void> {
  await waitFor(`Mount Pods ${[...uids].join(", ")} and their Secrets to go`, async () => {
    const left = [...await mountPodUids()].filter((u) => uids.has(u));
    const secrets = await ownedSecrets(uids);
    return left.length === 0 && secrets.length === 0 ? true : undefined;
  }, timeoutMs);
}

/** Every Mount Pod the API reports while it runs, by UID: a pod deleted and made again counts
 * twice. A watch the server ends is started again; `errors` keeps what kubectl said. */
export class MountPodWatch {
  readonly seen = new Map<string, string>(); // uid -> name
  readonly errors: string[] = [];
  #stopped = false;
  #child: Deno.ChildProcess | undefined;
  #loop: Promise<void> | undefined;

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.#once().catch((e) => this.errors.push(String(e)));
        if (!this.#stopped) await new Promise((r) => setTimeout(r, 500));
      }
    })();
  }

  async #once(): Promise<void> {
    const sel = encodeURIComponent(MOUNT_POD_SELECTOR);
    const child = new Deno.Command(Deno.env.get("KUBECTL") ?? "kubectl", {
      args: ["get", "--raw", `/api/v1/namespaces/${DRIVER_NS}/pods?watch=1&labelSelector=${sel}`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const err = new Response(child.stderr).text();
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const ev = JSON.parse(line);
          if (ev.type === "ERROR") this.errors.push(line.slice(0, 300));
          else if (ev.object?.metadata?.uid) this.seen.set(ev.object.metadata.uid, ev.object.metadata.name);
        } catch {
          this.errors.push(`not JSON: ${line.slice(0, 200)}`);
        }
      }
    }
    const status = await child.status;
    const text = (await err).trim();
    if (!this.#stopped && (text || !status.success)) {
      this.errors.push(`watch ended (${status.code}): ${text}`);
    }
  }

  /** Adds pods seen some other way (a list), in case an event was missed between two watches. */
  add(pods: Obj[]): void {
    for (const p of pods) this.seen.set(p.metadata.uid, p.metadata.name);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    try {
      this.#child?.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#loop;
  }
}

/** A pod that keeps running `script` (restartPolicy Always) with each claim at /data/<claim>,
 * or at /data when there is one. */
export function appPod(namespace: string, name: string, claims: string[], script: string): Obj {
  const at = (c: string) => (claims.length === 1 ? "/data" : `/data/${c}`);
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
        command: ["/bin/sh", "-c", script],
        volumeMounts: claims.map((c) => ({ name: c, mountPath: at(c) })),
      }],
      volumes: claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })),
    },
  };
}

/** Sleeps until deleted; what pods that only need their volumes staged run. */
export const IDLE = "trap 'exit 0' TERM; while :; do sleep 1; done";

/** Waits until the pod's log has at least `count` lines matching `re`; returns those lines. */
export async function logLines(
  namespace: string,
  pod: string,
  re: RegExp,
  count: number,
  timeoutMs = 120_000,
): Promise<string[]> {
  return await waitFor(`${count} lines matching ${re} in the log of ${namespace}/${pod}`, async () => {
    const lines = (await kubectl(["-n", namespace, "logs", pod])).split("\n").filter((l) => re.test(l));
    return lines.length >= count ? lines : undefined;
  }, timeoutMs);
}

/** PIDs of processes named `comm` in the pod with this UID, found from the host's /proc. */
export async function podProcesses(podUid: string, comm: string): Promise<number[]> {
  const mark = `pod${podUid}`;
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const name = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
      if (name !== comm) continue;
      if ((await Deno.readTextFile(`/proc/${e.name}/cgroup`)).includes(mark)) pids.push(Number(e.name));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/** Seconds since boot, to the hundredth: what the app pods' scripts stamp their lines with. */
export const UPTIME = "cut -d' ' -f1 /proc/uptime";

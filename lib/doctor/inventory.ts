/**
 * What the doctor sees on a node, read and never changed: the JuiceFS clients csi-jfs runs
 * (process mode: `<state>/clients/<key>/`, pod mode: `<state>/pods/<key>/` and the Mount Pods),
 * and every JuiceFS mount in the kubelet's layout (`<kubelet>/plugins/kubernetes.io/csi/...`
 * for stagings, `<kubelet>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount` for publishes).
 */
import { join } from "node:path";
import type { MountEntry } from "../mount/mountinfo.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import type { PathHealth } from "../mount/mounter.ts";
import type { V1Pod } from "../kube/kube.ts";
import { fsOfKey } from "../metrics/client_facts.ts";
import { clientLabel, LABEL_CLIENT } from "../clients/pod_spec.ts";

export interface ClientFact {
  key: string;
  fs: string;
  backend: "process" | "pod";
  dir: string;
  mountPath: string;
  /** The mount's device ("major:minor") when mounted. */
  device?: string;
  health: PathHealth | "unmounted";
  /** Process mode: the supervisor's pid, and whether it still runs. */
  pid?: number;
  supervisorAlive?: boolean;
  /** Pod mode: its Mount Pod (when the API answered). */
  pod?: PodFact;
  ageSeconds?: number;
}

export interface PodFact {
  namespace: string;
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  /** Its client label: a digest of the client key (lib/clients/pod_spec.ts clientLabel). */
  clientLabel?: string;
  reason?: string;
}

export interface VolumeMount {
  kind: "staging" | "publish" | "stray";
  path: string;
  device: string;
  root: string;
  health: PathHealth;
  /** The client it is bound from (by device), if any. */
  client?: string;
  volumeHandle?: string;
  podUid?: string;
  /** "namespace/name" when the API knew the pod uid. */
  pod?: string;
  /** A publish: whether a staging of the same directory is mounted. */
  staged?: boolean;
}

export interface Inventory {
  node: string;
  kubeletDir: string;
  stateDir: string;
  clients: ClientFact[];
  mounts: VolumeMount[];
  mountPods: PodFact[];
  /** Why the API was not asked or did not answer. */
  apiNote?: string;
}

export interface InventoryDeps {
  node: string;
  kubeletDir: string;
  stateDir: string;
  listMounts(): Promise<MountEntry[]>;
  health(path: string): Promise<PathHealth>;
  /** Directory entries (names of subdirectories), [] when missing. */
  readDirs(path: string): Promise<string[]>;
  readText(path: string): Promise<string | undefined>;
  /** Seconds since the file changed, undefined when missing. */
  ageOf(path: string): Promise<number | undefined>;
  isSupervisor(pid: number, mountPath: string): Promise<boolean>;
  /** Mount Pods of this node and pods by uid; undefined when no API is configured. */
  api?: { mountPods(): Promise<V1Pod[]>; podsByUid(): Promise<Map<string, string>> };
}

const PUBLISH = /\/pods\/([^/]+)\/volumes\/kubernetes\.io~csi\/([^/]+)\/mount$/;

function podFact(p: V1Pod): PodFact {
  const statuses = p.status?.containerStatuses ?? [];
  const waiting = statuses.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  const key = p.metadata?.labels?.[LABEL_CLIENT];
  return {
    namespace: p.metadata?.namespace ?? "",
    name: p.metadata?.name ?? "",
    phase: p.status?.phase ?? "Unknown",
    ready: (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    restarts: statuses.reduce((n, c) => n + c.restartCount, 0),
    ...(key ? { clientLabel: key } : {}),
    ...(waiting ? { reason: waiting } : {}),
  };
}

export async function takeInventory(d: InventoryDeps): Promise<Inventory> {
  const entries = (await d.listMounts()).filter(isJuiceFs);
  const at = (path: string) => entries.findLast((e) => e.mountPoint === path);
  let mountPods: PodFact[] = [];
  let pods = new Map<string, string>();
  let apiNote: string | undefined = d.api ? undefined : "no Kubernetes API configured (--kubeconfig)";
  if (d.api) {
    const why = (e: unknown) => String((e as Error).message ?? e).split("\n")[0];
    try {
      mountPods = (await d.api.mountPods()).map(podFact);
    } catch (e) {
      apiNote = `the Kubernetes API did not answer: ${why(e)}`;
    }
    try {
      pods = await d.api.podsByUid();
    } catch (e) {
      apiNote ??= `app pods not named (listing this node's pods failed: ${why(e)})`;
    }
  }
  const clients: ClientFact[] = [];
  for (const backend of ["process", "pod"] as const) {
    const base = join(d.stateDir, backend === "process" ? "clients" : "pods");
    for (const key of await d.readDirs(base)) {
      const dir = join(base, key);
      const mountPath = join(dir, "mnt");
      const entry = at(mountPath);
      const c: ClientFact = {
        key,
        fs: fsOfKey(key),
        backend,
        dir,
        mountPath,
        health: entry ? await d.health(mountPath) : "unmounted",
        ...(entry ? { device: entry.device } : {}),
      };
      if (backend === "process") {
        const pid = Number((await d.readText(join(dir, "supervisor.pid")))?.trim());
        if (pid) {
          c.pid = pid;
          c.supervisorAlive = await d.isSupervisor(pid, mountPath);
        } else c.supervisorAlive = false;
        const age = await d.ageOf(join(dir, "supervisor.pid"));
        if (age !== undefined) c.ageSeconds = age;
      } else {
        const pod = mountPods.find((p) => p.clientLabel === clientLabel(key));
        if (pod) c.pod = pod;
        const age = await d.ageOf(mountPath);
        if (age !== undefined) c.ageSeconds = age;
      }
      clients.push(c);
    }
  }
  const clientOf = new Map(clients.filter((c) => c.device).map((c) => [c.device!, c.key]));
  const clientPaths = new Set(clients.map((c) => c.mountPath));
  const stagingRoot = join(d.kubeletDir, "plugins", "kubernetes.io", "csi") + "/";
  const podsRoot = join(d.kubeletDir, "pods") + "/";
  const mounts: VolumeMount[] = [];
  for (const e of entries) {
    if (clientPaths.has(e.mountPoint)) continue;
    const client = clientOf.get(e.device);
    const publish = e.mountPoint.startsWith(podsRoot) ? PUBLISH.exec(e.mountPoint) : null;
    const kind = publish ? "publish" : e.mountPoint.startsWith(stagingRoot) ? "staging" : "stray";
    // Another JuiceFS mount of the host (not bound from our clients, outside kubelet) is not ours.
    if (kind === "stray" && !client) continue;
    const m: VolumeMount = {
      kind,
      path: e.mountPoint,
      device: e.device,
      root: e.root,
      health: await d.health(e.mountPoint),
      ...(client ? { client } : {}),
    };
    if (kind !== "stray") {
      const data = await d.readText(join(e.mountPoint, "..", "vol_data.json"));
      try {
        const handle = data ? JSON.parse(data)?.volumeHandle : undefined;
        if (typeof handle === "string") m.volumeHandle = handle;
      } catch { /* kubelet's file, not ours to judge */ }
    }
    if (publish) {
      m.podUid = publish[1]!;
      const name = pods.get(m.podUid);
      if (name) m.pod = name;
    }
    mounts.push(m);
  }
  for (const m of mounts) {
    if (m.kind !== "publish") continue;
    const staging = mounts.find((s) => s.kind === "staging" && s.device === m.device && s.root === m.root);
    m.staged = !!staging;
    if (!m.volumeHandle && staging?.volumeHandle) m.volumeHandle = staging.volumeHandle;
  }
  return {
    node: d.node,
    kubeletDir: d.kubeletDir,
    stateDir: d.stateDir,
    clients,
    mounts,
    mountPods,
    ...(apiNote ? { apiNote } : {}),
  };
}

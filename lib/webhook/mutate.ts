import { createHash } from "node:crypto";
import {
  BINDS_ENV_NAME,
  type ClaimFacts,
  DEFAULT_CACHE_DIR,
  INJECTED_ANNOTATION,
  OPT_OUT_LABELS,
  type OurClaim,
  SETTINGS_ENV_NAME,
  SETTINGS_KEY,
  SIDECAR_PREFIX,
  SIDECAR_VOLUME_ROOT,
  type VolumeBind,
} from "./facts.ts";
import {
  claimOf,
  DNS_LABEL,
  isObject,
  type JsonObject,
  labels,
  list,
  podShapeProblem,
  pointerToken,
  str,
} from "./pod_json.ts";

export type JsonPatchOp =
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

/** The webhook's answer: let the pod in as it is, with a patch, or refuse it with a reason. */
export type Decision =
  | { kind: "allow" }
  | { kind: "patch"; patch: JsonPatchOp[] }
  | { kind: "deny"; reason: string };

/** The PVC names of a pod's volumes (what the resolver must look up). */
export function claimNames(pod: unknown): string[] {
  if (podShapeProblem(pod)) return [];
  const spec = (pod as JsonObject)["spec"] as JsonObject;
  const names = list(spec, "volumes").map(claimOf).filter((c) => c !== undefined).map((c) => c.claimName);
  return [...new Set(names)];
}

/** Whether the pod opted out by label (the objectSelector already keeps most such pods away). */
export function optedOut(pod: unknown): boolean {
  if (!isObject(pod)) return false;
  const l = labels(pod);
  return Object.entries(OPT_OUT_LABELS).some(([k, values]) => values.includes(l[k] ?? ""));
}

interface Group {
  name: string;
  claim: OurClaim;
  binds: VolumeBind[];
  volumes: string[];
}

const hash = (s: string, n: number): string => createHash("sha256").update(s).digest("hex").slice(0, n);
const reEscape = (s: string): string => s.replace(/[.[\]()*+?^$|\\{}]/g, "\\$&");
const SAFE_SUBDIR = /^[A-Za-z0-9._/-]*$/;

/**
 * The startup probe passes only once every bind is a JuiceFS mount of the right directory:
 * mountinfo fields 4 and 5 are the root inside the file system and the mount point. Every
 * piece of the script is a checked name or subdirectory, never free text from the pod.
 */
export function probeScript(binds: VolumeBind[]): string {
  return binds.map((b) => {
    const root = reEscape(`/${b.subdir}`.replace(/\/+$/, "") || "/");
    return `grep -qE '^[0-9]+ [0-9]+ [0-9]+:[0-9]+ ${root} ${
      reEscape(b.target)
    } .* - fuse\\.juicefs ' /proc/self/mountinfo`;
  }).join(" && ");
}

function sidecar(g: Group): JsonObject {
  const c = g.claim.container;
  const mounts: JsonObject[] = g.volumes.map((v) => ({
    name: v,
    mountPath: `${SIDECAR_VOLUME_ROOT}/${v}`,
    mountPropagation: "Bidirectional",
  }));
  mounts.push({ name: `${g.name}-cache`, mountPath: c.cacheDir ?? DEFAULT_CACHE_DIR });
  (c.hostPaths ?? []).forEach((path, n) => mounts.push({ name: `${g.name}-host-${n}`, mountPath: path }));
  return {
    name: g.name,
    image: c.image,
    args: ["--mode=mount-supervisor"],
    // A native sidecar: started before the app containers, stopped after them, so a Job completes.
    restartPolicy: "Always",
    env: [
      {
        name: SETTINGS_ENV_NAME,
        valueFrom: { secretKeyRef: { name: g.claim.settingsSecret, key: SETTINGS_KEY } },
      },
      { name: BINDS_ENV_NAME, value: JSON.stringify(g.binds) },
    ],
    securityContext: { privileged: true },
    volumeMounts: mounts,
    startupProbe: {
      exec: { command: ["/bin/sh", "-c", probeScript(g.binds)] },
      periodSeconds: 1,
      timeoutSeconds: 5,
      failureThreshold: 300,
    },
    ...(c.resources ? { resources: c.resources } : {}),
  };
}

/** Volumes an earlier invocation converted, with whether they are read-only (from the sidecars' binds). */
function convertedVolumes(initContainers: JsonObject[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const c of initContainers) {
    if (!str(c, "name")?.startsWith(SIDECAR_PREFIX)) continue;
    const raw = list(c, "env").find((e) => e["name"] === BINDS_ENV_NAME)?.["value"];
    let binds: unknown;
    try {
      binds = typeof raw === "string" ? JSON.parse(raw) : [];
    } catch {
      binds = [];
    }
    const byTarget = new Map<string, boolean>();
    if (Array.isArray(binds)) {
      for (const b of binds) if (isObject(b)) byTarget.set(String(b["target"]), b["readOnly"] === true);
    }
    for (const m of list(c, "volumeMounts")) {
      const name = str(m, "name");
      const path = str(m, "mountPath");
      if (name && path?.startsWith(`${SIDECAR_VOLUME_ROOT}/`)) out.set(name, byTarget.get(path) ?? false);
    }
  }
  return out;
}

/** Gives the app containers' mounts of converted volumes HostToContainer (and readOnly where due). */
function fixMounts(containers: JsonObject[], converted: Map<string, boolean>): boolean {
  let changed = false;
  for (const c of containers) {
    if (str(c, "name")?.startsWith(SIDECAR_PREFIX)) continue;
    for (const m of list(c, "volumeMounts")) {
      const ro = converted.get(str(m, "name") ?? "");
      if (ro === undefined) continue;
      if (m["mountPropagation"] !== "HostToContainer" && m["mountPropagation"] !== "Bidirectional") {
        m["mountPropagation"] = "HostToContainer";
        changed = true;
      }
      if (ro && m["readOnly"] !== true) {
        m["readOnly"] = true;
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * The pure core of the webhook: from a pod and the facts of its PVCs, the JSONPatch that gives
 * it one JuiceFS client sidecar per client key, or a refusal. A pod with no PVC of ours, or one
 * already injected, is allowed with no patch at all.
 */
export function mutatePod(pod: unknown, facts: ReadonlyMap<string, ClaimFacts>): Decision {
  const problem = podShapeProblem(pod);
  if (problem) return { kind: "deny", reason: `cannot read the pod: ${problem}` };
  if (optedOut(pod)) return { kind: "allow" };
  const p = structuredClone(pod) as JsonObject;
  const spec = p["spec"] as JsonObject;
  const volumes = list(spec, "volumes");
  const containers = list(spec, "containers");
  const inits = list(spec, "initContainers");

  const groups = new Map<string, Group>();
  const newVolumes: JsonObject[] = [];
  for (const v of volumes) {
    const ref = claimOf(v);
    const fact = ref ? facts.get(ref.claimName) : undefined;
    if (!ref || !fact || fact.kind === "foreign") {
      newVolumes.push(v);
      continue;
    }
    if (fact.kind === "refuse") return { kind: "deny", reason: fact.reason };
    const name = v["name"] as string;
    if (!DNS_LABEL.test(name)) {
      return { kind: "deny", reason: `volume name "${name.slice(0, 64)}" is not a DNS label` };
    }
    if (!SAFE_SUBDIR.test(fact.subdir)) {
      return { kind: "deny", reason: `PVC ${ref.claimName}: volume directory has unsupported characters` };
    }
    const g = groups.get(fact.clientKey) ?? { name: "", claim: fact, binds: [], volumes: [] };
    groups.set(fact.clientKey, g);
    g.volumes.push(name);
    g.binds.push({
      subdir: fact.subdir,
      target: `${SIDECAR_VOLUME_ROOT}/${name}`,
      readOnly: fact.readOnly || ref.readOnly,
    });
    newVolumes.push({ name, emptyDir: {} });
  }

  for (const c of [...containers, ...inits]) {
    for (const d of list(c, "volumeDevices")) {
      if ([...groups.values()].some((g) => g.volumes.includes(str(d, "name") ?? ""))) {
        return {
          kind: "deny",
          reason: `container ${str(c, "name")} asks for volume ${str(d, "name")} as a block device: ` +
            `csi-jfs volumes are file systems (use volumeMounts)`,
        };
      }
    }
  }

  const converted = convertedVolumes(inits);
  for (const g of groups.values()) {
    for (const b of g.binds) converted.set(b.target.slice(SIDECAR_VOLUME_ROOT.length + 1), b.readOnly);
  }
  const mountsChanged = fixMounts([...containers, ...inits], converted);
  if (groups.size === 0 && !mountsChanged) return { kind: "allow" };

  const patch: JsonPatchOp[] = [];
  if (groups.size > 0) {
    // Named by the client and the volumes it serves: a later invocation that finds more volumes
    // of the same client adds a second sidecar instead of clashing with the first.
    const sidecars = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, g]) => {
      g.name = `${SIDECAR_PREFIX}${hash(`${key}\n${g.volumes.join(",")}`, 12)}`;
      newVolumes.push({ name: `${g.name}-cache`, emptyDir: {} });
      (g.claim.container.hostPaths ?? []).forEach((path, n) =>
        newVolumes.push({ name: `${g.name}-host-${n}`, hostPath: { path, type: "Directory" } })
      );
      return sidecar(g);
    });
    patch.push({ op: "replace", path: "/spec/volumes", value: newVolumes });
    // Native sidecars first: regular init containers then already see the mounts.
    patch.push({
      op: spec["initContainers"] ? "replace" : "add",
      path: "/spec/initContainers",
      value: [...sidecars, ...inits],
    });
    const meta = isObject(p["metadata"]) ? p["metadata"] : undefined;
    const names = sidecars.map((s) => s["name"]).join(",");
    if (!meta) {
      patch.push({ op: "add", path: "/metadata", value: { annotations: { [INJECTED_ANNOTATION]: names } } });
    } else if (!isObject(meta["annotations"])) {
      patch.push({ op: "add", path: "/metadata/annotations", value: { [INJECTED_ANNOTATION]: names } });
    } else {
      const prev = str(meta["annotations"], INJECTED_ANNOTATION);
      patch.push({
        op: "add",
        path: `/metadata/annotations/${pointerToken(INJECTED_ANNOTATION)}`,
        value: prev ? `${prev},${names}` : names,
      });
    }
  } else if (inits.length > 0) {
    patch.push({ op: "replace", path: "/spec/initContainers", value: inits });
  }
  if (containers.length > 0) patch.push({ op: "replace", path: "/spec/containers", value: containers });
  return { kind: "patch", patch };
}

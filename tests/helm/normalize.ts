/**
 * Makes a Helm render and a kustomize build comparable: objects keyed by kind/namespace/name,
 * Helm's own labels dropped, and a diff that names the object and the field, with lists of
 * named things (containers, env, volumes, ports) indexed by name so a message reads
 * `containers[name=csi-jfs].args[4]`.
 */
// js-yaml (already in the lock through @kubernetes/client-node): plain objects, every field kept,
// where client-node's loadAllYaml would map them onto its typed models.
import { loadAll } from "js-yaml";

type Obj = Record<string, unknown>;

const HELM_LABELS = ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"];

export function objectsOf(yaml: string, opts: { dropKinds?: string[] } = {}): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const doc of loadAll(yaml) as (Obj | null)[]) {
    if (!doc || typeof doc !== "object") continue;
    const kind = String(doc.kind);
    if (opts.dropKinds?.includes(kind)) continue;
    const meta = (doc.metadata ?? {}) as Obj;
    const labels = meta.labels as Record<string, string> | undefined;
    if (labels) {
      for (const l of HELM_LABELS) delete labels[l];
      if (Object.keys(labels).length === 0) delete meta.labels;
    }
    out.set(`${kind}/${meta.namespace ?? "-"}/${meta.name}`, doc);
  }
  return out;
}

const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const named = (v: unknown[]): boolean =>
  v.length > 0 && v.every((x) => isObj(x) && typeof x.name === "string");

/** Every difference between a and b, as "path: chart=… kustomize=…". */
export function diff(a: unknown, b: unknown, path = ""): string[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (named(a) && named(b)) {
      const out: string[] = [];
      const names = [...new Set([...a, ...b].map((x) => (x as Obj).name as string))];
      for (const n of names) {
        const x = a.find((v) => (v as Obj).name === n);
        const y = b.find((v) => (v as Obj).name === n);
        out.push(...diff(x, y, `${path}[name=${n}]`));
      }
      // Order matters for containers and args alike.
      const order = (l: unknown[]) => l.map((x) => (x as Obj).name).join(",");
      if (out.length === 0 && order(a) !== order(b)) {
        out.push(`${path}: order chart=${order(a)} kustomize=${order(b)}`);
      }
      return out;
    }
    const out: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...diff(a[i], b[i], `${path}[${i}]`));
    return out;
  }
  if (isObj(a) && isObj(b)) {
    const out: string[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      out.push(...diff(a[k], b[k], path ? `${path}.${k}` : k));
    }
    return out;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  return [`${path}: chart=${JSON.stringify(a)} kustomize=${JSON.stringify(b)}`];
}

/** Differences between two sets of objects: missing objects, then field by field. */
export function diffObjects(chart: Map<string, Obj>, kustomize: Map<string, Obj>): string[] {
  const out: string[] = [];
  for (const key of [...new Set([...chart.keys(), ...kustomize.keys()])].sort()) {
    const a = chart.get(key);
    const b = kustomize.get(key);
    if (!a) out.push(`${key}: only in the kustomize base`);
    else if (!b) out.push(`${key}: only in the chart`);
    else out.push(...diff(a, b).map((d) => `${key}: ${d}`));
  }
  return out;
}

/**
 * What a kustomize overlay changes by patches and a chart by values may differ in form but not
 * in effect: csi-jfs's flags (a repeated flag: the last one counts, as the program reads it)
 * and env entries, volumes and volume mounts are compared as sorted sets (Kubernetes keys them by
 * name); a null rollingUpdate (a patch removing it) is absent.
 */
export function effective(objects: Map<string, Obj>): Map<string, Obj> {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!isObj(v)) return;
    if (v.rollingUpdate === null) delete v.rollingUpdate;
    const key = (x: unknown) => `${(x as Obj).name}\0${(x as Obj).mountPath ?? ""}`;
    for (const field of ["env", "volumes", "volumeMounts"]) {
      const list = v[field];
      if (Array.isArray(list)) list.sort((a, b) => key(a).localeCompare(key(b)));
    }
    if (v.name === "csi-jfs" && Array.isArray(v.args)) {
      const flags = new Map<string, string>();
      for (const a of v.args as string[]) flags.set(a.split("=")[0]!, a);
      v.args = [...flags.values()].sort();
    }
    Object.values(v).forEach(walk);
  };
  for (const o of objects.values()) walk(o);
  return objects;
}

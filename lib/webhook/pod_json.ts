/**
 * Narrow readers over a pod as the API server sent it: the webhook sees objects before
 * validation, so nothing about their shape is assumed. Unknown fields are kept as they are
 * (the mutation copies and edits the raw objects, never rebuilds them from a model).
 */

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A Kubernetes object name that may become part of a path, a script or a JSON pointer. */
export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why the pod cannot be read, or undefined. */
export function podShapeProblem(pod: unknown): string | undefined {
  if (!isObject(pod)) return "the object is not a pod";
  if (pod["metadata"] !== undefined && !isObject(pod["metadata"])) return "metadata is not an object";
  const spec = pod["spec"];
  if (!isObject(spec)) return "spec is missing or not an object";
  for (const field of ["volumes", "containers", "initContainers"]) {
    const list = spec[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `spec.${field} is not a list`;
    for (const [i, item] of list.entries()) {
      if (!isObject(item) || typeof item["name"] !== "string") return `spec.${field}[${i}] has no name`;
      if (field === "volumes") continue;
      for (const sub of ["volumeMounts", "volumeDevices", "env"]) {
        const v = item[sub];
        if (v !== undefined && (!Array.isArray(v) || !v.every(isObject))) {
          return `spec.${field}[${i}].${sub} is not a list of objects`;
        }
      }
    }
  }
  return undefined;
}

export function list(obj: JsonObject, field: string): JsonObject[] {
  const v = obj[field];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

export function str(obj: unknown, field: string): string | undefined {
  if (!isObject(obj)) return undefined;
  const v = obj[field];
  return typeof v === "string" ? v : undefined;
}

export function labels(pod: JsonObject): Record<string, string> {
  const meta = pod["metadata"];
  const l = isObject(meta) ? meta["labels"] : undefined;
  if (!isObject(l)) return {};
  return Object.fromEntries(Object.entries(l).filter(([, v]) => typeof v === "string")) as Record<
    string,
    string
  >;
}

/** The PVC a pod volume names, with the volume's own readOnly flag. */
export function claimOf(volume: JsonObject): { claimName: string; readOnly: boolean } | undefined {
  const pvc = volume["persistentVolumeClaim"];
  if (!isObject(pvc)) return undefined;
  const claimName = pvc["claimName"];
  if (typeof claimName !== "string") return undefined;
  return { claimName, readOnly: pvc["readOnly"] === true };
}

/** JSON Pointer escaping (RFC 6901) of one reference token. */
export function pointerToken(s: string): string {
  return s.replaceAll("~", "~0").replaceAll("/", "~1");
}

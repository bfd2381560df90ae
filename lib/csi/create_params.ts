import { invalidArgument, outOfRange } from "../errors.ts";
import { DELETE_POLICIES, type DeletePolicy } from "../volume_id.ts";
import { PV_NAME, PVC_NAME, PVC_NAMESPACE } from "../juicefs/path_pattern.ts";
import { isPodSettingKey, mountPodSettings, POD_SETTING_KEYS } from "../clients/pod_settings.ts";

export interface CreateParams {
  pathPattern?: string;
  onDelete: DeletePolicy;
  mountOptions?: string;
  /** Mount Pod settings as given (validated): they travel to the node in the volume context. */
  podParams?: Record<string, string>;
}

const OWN = new Set(["pathPattern", "onDelete", "mountOptions"]);
// Set by csi-provisioner (--extra-create-metadata); its secret parameters are stripped before us.
const PROVISIONER = new Set([PVC_NAME, PVC_NAMESPACE, PV_NAME, "csi.storage.k8s.io/pvc/uid"]);

/** StorageClass parameters; anything unknown is refused so a typo does not go unnoticed. */
export function parseCreateParams(params: Record<string, string> | undefined): CreateParams {
  const p = params ?? {};
  for (const k of Object.keys(p)) {
    if (!OWN.has(k) && !PROVISIONER.has(k) && !isPodSettingKey(k)) {
      const known = [...OWN, ...Object.keys(POD_SETTING_KEYS).filter((n) => !n.startsWith("juicefs/"))];
      throw invalidArgument(
        `parameter "${k.slice(0, 128)}" is not known; known: ${known.join(", ")} (and juicefs/mount-* names)`,
      );
    }
  }
  mountPodSettings(p); // refused here, not at every stage of the volume
  const podParams = Object.fromEntries(Object.entries(p).filter(([k]) => isPodSettingKey(k)));
  const onDelete = p["onDelete"] || "delete";
  if (!(DELETE_POLICIES as readonly string[]).includes(onDelete)) {
    throw invalidArgument(
      `parameter onDelete must be one of ${DELETE_POLICIES.join(", ")}, got "${onDelete.slice(0, 64)}"`,
    );
  }
  return {
    onDelete: onDelete as DeletePolicy,
    ...(p["pathPattern"] ? { pathPattern: p["pathPattern"] } : {}),
    ...(p["mountOptions"] ? { mountOptions: p["mountOptions"] } : {}),
    ...(Object.keys(podParams).length ? { podParams } : {}),
  };
}

const MAX_INT64 = (1n << 63n) - 1n;

function parseBytes(v: string | undefined, field: string): bigint {
  if (v === undefined || v === "") return 0n;
  if (!/^-?\d+$/.test(v)) throw invalidArgument(`${field} is not an integer`);
  const n = BigInt(v);
  if (n < 0n) throw invalidArgument(`${field} must not be negative`);
  if (n > MAX_INT64) throw invalidArgument(`${field} is out of range`);
  return n;
}

export interface Capacity {
  required: bigint;
  limit: bigint;
}

export function parseCapacity(
  range: { required_bytes?: string; limit_bytes?: string } | null | undefined,
): Capacity {
  const required = parseBytes(range?.required_bytes, "capacity_range.required_bytes");
  const limit = parseBytes(range?.limit_bytes, "capacity_range.limit_bytes");
  if (limit > 0n && required > limit) {
    throw invalidArgument(`capacity_range.required_bytes ${required} exceeds limit_bytes ${limit}`);
  }
  return { required, limit };
}

/** JuiceFS reads quotas as float64 bytes: keep them where that is exact enough (1 EiB). */
export const MAX_QUOTA = 1n << 60n;

/** The quota to set: the required bytes, else the limit; 0 means no quota. */
export function chosenCapacity(c: Capacity): bigint {
  const bytes = c.required > 0n ? c.required : c.limit;
  if (bytes > MAX_QUOTA) {
    throw outOfRange(`a capacity of ${bytes} bytes is above the largest quota, ${MAX_QUOTA} bytes (1 EiB)`);
  }
  return bytes;
}

/** Whether an existing volume of `bytes` satisfies the range. */
export const fitsCapacity = (bytes: bigint, c: Capacity): boolean =>
  (c.required === 0n && c.limit === 0n)
    ? bytes === 0n
    : (bytes >= c.required && (c.limit === 0n || bytes <= c.limit));

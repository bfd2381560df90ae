/**
 * Mount Pod settings from StorageClass parameters (dynamic volumes, carried to NodeStageVolume in
 * the volume context) or PV volumeAttributes (static volumes). Pure and validated: anything a
 * user can get wrong is INVALID_ARGUMENT naming the key. The sidecar helper builds its injected
 * container from the same settings (mountPodSettings + containerResources).
 *
 * Our names are short; JuiceFS CSI's names are accepted too, so a StorageClass can switch
 * provisioner without edits. Giving both names of one setting is refused (which would win?).
 */
import { invalidArgument } from "../errors.ts";

export interface Resources {
  cpu?: string;
  memory?: string;
}

export interface MountPodSettings {
  /** Image of the Mount Pod; undefined: the node plugin's own image. */
  image?: string;
  requests: Resources;
  limits: Resources;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Keep an unused Mount Pod this long after its last volume goes. */
  deleteDelayMs: number;
  /**
   * Host directory mounted into the Mount Pod at the same path, and juicefs's --cache-dir;
   * undefined: `<state dir on the host>/cache` as juicefs's default /var/jfsCache.
   */
  cacheDir?: string;
  /** More host directories mounted at the same path (a local object store, sqlite metadata). */
  hostPaths: string[];
}

/** For a laptop cluster: small requests, a memory limit that catches a runaway client. */
export const DEFAULT_POD_SETTINGS: Readonly<MountPodSettings> = Object.freeze({
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { memory: "1Gi" },
  labels: {},
  annotations: {},
  deleteDelayMs: 0,
  hostPaths: [],
});

type Field =
  | "image"
  | "cpuRequest"
  | "cpuLimit"
  | "memoryRequest"
  | "memoryLimit"
  | "labels"
  | "annotations"
  | "deleteDelay"
  | "cacheDir"
  | "hostPaths";

/** Our name → field, and JuiceFS CSI's name → field. */
export const POD_SETTING_KEYS: Readonly<Record<string, Field>> = Object.freeze({
  mountImage: "image",
  mountCpuRequest: "cpuRequest",
  mountCpuLimit: "cpuLimit",
  mountMemoryRequest: "memoryRequest",
  mountMemoryLimit: "memoryLimit",
  mountLabels: "labels",
  mountAnnotations: "annotations",
  mountDeleteDelay: "deleteDelay",
  mountCacheDir: "cacheDir",
  mountHostPaths: "hostPaths",
  "juicefs/mount-image": "image",
  "juicefs/mount-cpu-request": "cpuRequest",
  "juicefs/mount-cpu-limit": "cpuLimit",
  "juicefs/mount-memory-request": "memoryRequest",
  "juicefs/mount-memory-limit": "memoryLimit",
  "juicefs/mount-labels": "labels",
  "juicefs/mount-annotations": "annotations",
  "juicefs/mount-delete-delay": "deleteDelay",
  "juicefs/mount-cache-dir": "cacheDir",
  "juicefs/host-path": "hostPaths",
});

export const isPodSettingKey = (k: string): boolean => Object.hasOwn(POD_SETTING_KEYS, k);

/** Labels and annotations the driver sets itself: a user's extra ones may not override them. */
const RESERVED_PREFIXES = ["jfs.csi.dev/", "app.kubernetes.io/name", "app.kubernetes.io/part-of"];

const show = (v: string): string => JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);

/** A Kubernetes CPU quantity: "250m", "1", "0.5". */
const CPU = /^(\d+(\.\d+)?|\.\d+)m?$/;
/** A memory quantity: "512Mi", "1G", "1e9", "1073741824". */
const MEMORY = /^(\d+(\.\d+)?|\.\d+)(([KMGTPE]i)|[kMGTPE]|[eE]\d+)?$/;

function quantity(key: string, v: string, kind: "cpu" | "memory"): string | undefined {
  const t = v.trim();
  if (t === "" || t === "0") return undefined; // no request/limit
  if (!(kind === "cpu" ? CPU : MEMORY).test(t)) {
    const like = kind === "cpu" ? "250m, 1 or 0.5" : "512Mi, 2Gi or 1G";
    throw invalidArgument(`parameter ${key}: ${show(v)} is not a ${kind} quantity like ${like}`);
  }
  return t;
}

/** Go-style durations as JuiceFS CSI takes them: "30s", "5m", "1h30m", "0". */
export function parseDelay(key: string, v: string): number {
  const t = v.trim();
  if (t === "" || t === "0") return 0;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+(ms|s|m|h))+$/.test(t)) {
    throw invalidArgument(`parameter ${key}: ${show(v)} is not a duration like 30s, 5m or 1h30m`);
  }
  let ms = 0;
  for (const [, n, u] of t.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * (unit[u!] ?? 0);
  if (ms > 7 * 24 * 3_600_000) throw invalidArgument(`parameter ${key}: ${show(v)} is longer than 7 days`);
  return ms;
}

const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** A label or annotation key: `[prefix/]name`, as the API validates it. */
export function checkMetaKey(key: string, k: string): void {
  const slash = k.lastIndexOf("/");
  const prefix = slash >= 0 ? k.slice(0, slash) : "";
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  const ok = QUALIFIED_NAME.test(name) && (slash < 0 || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
  if (!ok) throw invalidArgument(`parameter ${key}: ${show(k)} is not a valid label/annotation key`);
  if (RESERVED_PREFIXES.some((p) => k === p || (p.endsWith("/") && k.startsWith(p)))) {
    throw invalidArgument(`parameter ${key}: ${show(k)} is set by the driver itself`);
  }
}

/**
 * `a=b,c=d`, one `a: b` or `a=b` per line, or a JSON object: JuiceFS CSI users write all three.
 */
function keyValues(key: string, v: string, what: "labels" | "annotations"): Record<string, string> {
  const t = v.trim();
  if (t === "") return {};
  let pairs: [string, string][];
  if (t.startsWith("{")) {
    let obj: unknown;
    try {
      obj = JSON.parse(t);
    } catch {
      throw invalidArgument(`parameter ${key}: not valid JSON`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw invalidArgument(`parameter ${key}: not a JSON object of strings`);
    }
    pairs = Object.entries(obj).map(([k, x]) => {
      if (typeof x !== "string") {
        throw invalidArgument(`parameter ${key}: the value of ${show(k)} is not a string`);
      }
      return [k, x];
    });
  } else {
    pairs = t.split(/[,\n]/).map((s) => s.trim()).filter(Boolean).map((item) => {
      const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(item);
      if (!m) throw invalidArgument(`parameter ${key}: ${show(item)} is not key=value`);
      return [m[1]!, m[2]!.trim().replace(/^"(.*)"$/, "$1")];
    });
  }
  const out: Record<string, string> = {};
  for (const [k, x] of pairs) {
    checkMetaKey(key, k);
    if (what === "labels" && !LABEL_VALUE.test(x)) {
      throw invalidArgument(
        `parameter ${key}: ${show(x)} is not a valid label value (63 characters, [A-Za-z0-9._-])`,
      );
    }
    if (what === "annotations" && x.length > 4096) {
      throw invalidArgument(`parameter ${key}: the value of ${show(k)} is longer than 4096 bytes`);
    }
    out[k] = x;
  }
  if (Object.keys(out).length > 32) throw invalidArgument(`parameter ${key}: more than 32 ${what}`);
  return out;
}

/** An image reference: no spaces or control characters, a sane length. */
function image(key: string, v: string): string {
  const t = v.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,511}$/.test(t)) {
    throw invalidArgument(
      `parameter ${key}: ${show(v)} is not an image reference like registry/csi-jfs:0.1.0`,
    );
  }
  return t;
}

/** Absolute, normalized, not the root, no dot-dot: a host directory the Mount Pod may use. */
function hostDir(key: string, v: string): string {
  const t = v.trim();
  const parts = t.split("/").slice(1);
  if (
    !t.startsWith("/") || t.length > 1024 || parts.some((p) => p === "" || p === "." || p === "..") ||
    /[\s\0,:]/.test(t)
  ) {
    throw invalidArgument(
      `parameter ${key}: ${show(v)} is not a normalized absolute host directory like /var/jfsCache`,
    );
  }
  return t;
}

/**
 * The Mount Pod settings in `params`; keys that are not Mount Pod settings are ignored here
 * (the caller judges them) except an unknown `juicefs/mount-*` one, which is refused naming it.
 */
export function mountPodSettings(params: Record<string, string> | undefined): MountPodSettings {
  const p = params ?? {};
  const byField = new Map<Field, [string, string]>();
  for (const [k, v] of Object.entries(p)) {
    const field = POD_SETTING_KEYS[k];
    if (field === undefined) {
      if (k.startsWith("juicefs/mount-")) {
        const known = Object.keys(POD_SETTING_KEYS).filter((n) => n.startsWith("juicefs/"));
        throw invalidArgument(`parameter "${k.slice(0, 128)}" is not known; known: ${known.join(", ")}`);
      }
      continue;
    }
    const other = byField.get(field);
    if (other) throw invalidArgument(`parameters ${other[0]} and ${k} set the same thing; keep one`);
    byField.set(field, [k, v]);
  }
  const s: MountPodSettings = structuredClone(DEFAULT_POD_SETTINGS) as MountPodSettings;
  const set = (field: Field, fn: (key: string, v: string) => void) => {
    const kv = byField.get(field);
    if (kv) fn(kv[0], kv[1]);
  };
  const res = (into: Resources, name: "cpu" | "memory") => (key: string, v: string) => {
    const q = quantity(key, v, name);
    if (q === undefined) delete into[name];
    else into[name] = q;
  };
  set("image", (k, v) => (s.image = image(k, v)));
  set("cpuRequest", res(s.requests, "cpu"));
  set("memoryRequest", res(s.requests, "memory"));
  set("cpuLimit", res(s.limits, "cpu"));
  set("memoryLimit", res(s.limits, "memory"));
  set("labels", (k, v) => (s.labels = keyValues(k, v, "labels")));
  set("annotations", (k, v) => (s.annotations = keyValues(k, v, "annotations")));
  set("deleteDelay", (k, v) => (s.deleteDelayMs = parseDelay(k, v)));
  set("cacheDir", (k, v) => (s.cacheDir = hostDir(k, v)));
  set("hostPaths", (k, v) => {
    const dirs = v.split(",").map((d) => d.trim()).filter(Boolean).map((d) => hostDir(k, d));
    if (dirs.length > 8) throw invalidArgument(`parameter ${k}: more than 8 host paths`);
    s.hostPaths = [...new Set(dirs)].sort();
  });
  for (const r of ["cpu", "memory"] as const) {
    const req = s.requests[r], lim = s.limits[r];
    if (req !== undefined && lim !== undefined && toNumber(req) > toNumber(lim)) {
      throw invalidArgument(`the Mount Pod's ${r} request ${req} is above its limit ${lim}`);
    }
  }
  return s;
}

/** A quantity's value in base units (cores, bytes), for comparing a request with a limit. */
function toNumber(q: string): number {
  const m = /^([\d.]+)(.*)$/.exec(q);
  const n = Number(m?.[1] ?? 0);
  const suffix = m?.[2] ?? "";
  const bin: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  const dec: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  if (suffix in bin) return n * bin[suffix]!;
  if (suffix in dec) return n * dec[suffix]!;
  if (/^[eE]\d+$/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  return n;
}

/** The settings as a container's `resources` (only what is set). */
export function containerResources(
  s: Pick<MountPodSettings, "requests" | "limits">,
): { requests?: Record<string, string>; limits?: Record<string, string> } {
  const pick = (r: Resources) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
  const requests = pick(s.requests), limits = pick(s.limits);
  return {
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

/** A stable text of the settings for the client key (same settings, same text). */
export function podSettingsIdentity(s: MountPodSettings): string {
  const sorted = (o: Record<string, string | undefined>) => Object.entries(o).filter(([, v]) => v).sort();
  return JSON.stringify([
    s.image ?? "",
    sorted({ ...s.requests }),
    sorted({ ...s.limits }),
    sorted(s.labels),
    sorted(s.annotations),
    s.deleteDelayMs,
    s.cacheDir ?? "",
    s.hostPaths,
  ]);
}

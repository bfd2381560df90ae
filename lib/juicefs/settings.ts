import { invalidArgument } from "../errors.ts";
import { registerSecrets } from "../redact.ts";

/**
 * A JuiceFS file system as described by a Kubernetes Secret, with the JuiceFS CSI
 * Driver's keys so Secrets carry over unchanged. Secret-bearing values live only in
 * `secretEnv`, which is handed to child processes by environment, never argv.
 */
export interface FsSettings {
  name: string;
  /** The metadata URL with any password removed: safe for argv and logs. */
  metaUrl: string;
  storage?: string;
  bucket?: string;
  /** `--key[=value]` flags for `juicefs format`, from the `format-options` key. */
  formatOptions: string[];
  /** META_PASSWORD, ACCESS_KEY, SECRET_KEY, and the user's `envs`. */
  secretEnv: Record<string, string>;
}

export const SECRET_KEYS = [
  "name",
  "metaurl",
  "storage",
  "bucket",
  "access-key",
  "secret-key",
  "envs",
  "format-options",
] as const;

const NAME_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const OPTION_KEY_RE = /^[a-z0-9][a-z0-9-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Metadata engines whose clients read the password from META_PASSWORD.
const PASSWORD_ENV_SCHEMES = new Set(["redis", "rediss", "unix", "mysql", "postgres"]);
// Options that would put a secret on a command line or fight the dedicated keys.
const FORBIDDEN_FORMAT_OPTIONS = new Set([
  "access-key",
  "secret-key",
  "session-token",
  "encrypt-rsa-key",
  "storage",
  "bucket",
]);
const MAX_VALUE = 4096;

/** Splits `scheme://user:password@rest` into a password-free URL and the password. */
export function splitMetaUrl(url: string): { url: string; password?: string } {
  const schemeEnd = url.indexOf("://");
  const at = url.lastIndexOf("@");
  if (schemeEnd < 0 || at < schemeEnd) return { url };
  const scheme = url.slice(0, schemeEnd);
  const userinfo = url.slice(schemeEnd + 3, at);
  const colon = userinfo.indexOf(":");
  if (colon < 0 || !PASSWORD_ENV_SCHEMES.has(scheme)) return { url };
  const password = decodeURIComponentSafe(userinfo.slice(colon + 1));
  return { url: url.slice(0, schemeEnd + 3) + userinfo.slice(0, colon) + url.slice(at), password };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses `k=v,k2,k3=v3` into `--k=v --k2 --k3=v3`, refusing keys that would carry secrets. */
export function parseOptionList(raw: string, what: string, forbidden = new Set<string>()): string[] {
  const out: string[] = [];
  for (const part of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).replace(/^--?/, "");
    const value = eq < 0 ? undefined : part.slice(eq + 1);
    if (!OPTION_KEY_RE.test(key)) throw invalidArgument(`${what}: option name "${key}" is not valid`);
    if (forbidden.has(key)) {
      throw invalidArgument(`${what}: "${key}" is not allowed here; put it in its own secret key`);
    }
    if (value !== undefined && /[\s\0]/.test(value)) {
      throw invalidArgument(`${what}: the value of "${key}" must not contain whitespace or NUL`);
    }
    out.push(value === undefined ? `--${key}` : `--${key}=${value}`);
  }
  return out;
}

/** Parses the `envs` key: a JSON object, or a flow map like `{A: x, B: y}` as JuiceFS CSI users write it. */
export function parseEnvs(raw: string): Record<string, string> {
  const text = raw.trim();
  if (!text) return {};
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    const inner = text.replace(/^\{/, "").replace(/\}$/, "");
    obj = Object.fromEntries(
      inner.split(",").map((s) => s.trim()).filter(Boolean).map((kv) => {
        const i = kv.indexOf(":");
        if (i < 0) {
          throw invalidArgument(
            `secret key "envs": an entry has no ":"; write {NAME: value} or a JSON object`,
          );
        }
        return [kv.slice(0, i).trim(), kv.slice(i + 1).trim().replace(/^["']|["']$/g, "")];
      }),
    );
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw invalidArgument(`secret key "envs" must be a map of environment variables`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!ENV_NAME_RE.test(k)) throw invalidArgument(`secret key "envs": "${k}" is not a valid variable name`);
    out[k] = String(v);
  }
  return out;
}

/** Reads the file system from CSI secrets; INVALID_ARGUMENT names the key at fault, never its value. */
export function settingsFromSecrets(secrets: Record<string, string> | undefined): FsSettings {
  if (!secrets || Object.keys(secrets).length === 0) {
    throw invalidArgument(
      "secrets are required: set the csi.storage.k8s.io/*-secret-name and -namespace parameters to a Secret with name and metaurl",
    );
  }
  for (const [k, v] of Object.entries(secrets)) {
    if (!(SECRET_KEYS as readonly string[]).includes(k)) {
      throw invalidArgument(`secret key "${k}" is not known; known keys: ${SECRET_KEYS.join(", ")}`);
    }
    if (v.length > MAX_VALUE || v.includes("\0")) {
      throw invalidArgument(`secret key "${k}" is too long or contains NUL`);
    }
  }
  const name = secrets["name"]?.trim() ?? "";
  if (!NAME_RE.test(name)) {
    throw invalidArgument(
      `secret key "name" must be a JuiceFS volume name (3-63 of a-z, 0-9 and -), got "${name.slice(0, 64)}"`,
    );
  }
  const rawMeta = secrets["metaurl"]?.trim() ?? "";
  if (!rawMeta) throw invalidArgument(`secret key "metaurl" is required`);
  if (/\s/.test(rawMeta)) throw invalidArgument(`secret key "metaurl" must not contain whitespace`);
  const { url, password } = splitMetaUrl(rawMeta);
  const secretEnv: Record<string, string> = parseEnvs(secrets["envs"] ?? "");
  registerSecrets(Object.values(secretEnv));
  if (password !== undefined) secretEnv["META_PASSWORD"] = password;
  const ak = secrets["access-key"];
  const sk = secrets["secret-key"];
  if (ak) secretEnv["ACCESS_KEY"] = ak;
  if (sk) secretEnv["SECRET_KEY"] = sk;
  registerSecrets([password, ak, sk]);
  const storage = secrets["storage"]?.trim();
  const bucket = secrets["bucket"]?.trim();
  for (const [k, v] of [["storage", storage], ["bucket", bucket]] as const) {
    if (v && /[\s]/.test(v)) throw invalidArgument(`secret key "${k}" must not contain whitespace`);
  }
  return {
    name,
    metaUrl: url,
    ...(storage ? { storage } : {}),
    ...(bucket ? { bucket } : {}),
    formatOptions: parseOptionList(
      secrets["format-options"] ?? "",
      `secret key "format-options"`,
      FORBIDDEN_FORMAT_OPTIONS,
    ),
    secretEnv,
  };
}

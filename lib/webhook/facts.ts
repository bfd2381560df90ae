/**
 * What the webhook learned about each PVC a pod names, resolved from the API before the pure
 * mutation runs (lib/webhook/resolve.ts). The mutation needs nothing else, so its tables can
 * describe every case without a cluster.
 */

/** Settings of the injected client container, from the StorageClass parameters. */
export interface SidecarContainer {
  image: string;
  resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  /** JuiceFS's cache directory (--cache-dir) when the parameters name one. */
  cacheDir?: string;
  /** Host directories mounted at the same path (juicefs/host-path: local storage, sqlite3 files). */
  hostPaths?: string[];
}

/** A PVC bound to a PV of our driver. */
export interface OurClaim {
  kind: "ours";
  /** One client per key: same file system, metadata address, credentials and mount flags. */
  clientKey: string;
  fsName: string;
  /** The volume's directory inside the file system ("" for the root). */
  subdir: string;
  /** ROX access modes: every mount of it is read-only. */
  readOnly: boolean;
  /** The Secret in the pod's namespace holding the supervisor settings (key `settings`). */
  settingsSecret: string;
  container: SidecarContainer;
}

export type ClaimFacts =
  | OurClaim
  /** Bound to another driver's PV (or a PV with no CSI source): left alone. */
  | { kind: "foreign" }
  /** A reason the pod must be refused, in one line a user can act on. */
  | { kind: "refuse"; reason: string };

/** The settings key of the per-client Secret the sidecar reads through secretKeyRef. */
export const SETTINGS_KEY = "settings";
/** Env of the sidecar: its settings (from the Secret) and the non-secret list of binds. */
export const SETTINGS_ENV_NAME = "CSI_JFS_SUPERVISOR_SETTINGS";
export { BINDS_ENV as BINDS_ENV_NAME } from "../supervisor/volume_binds.ts";
/** Where the sidecar mounts the whole file system (private to it) and the volumes' emptyDirs. */
export const SIDECAR_FS_MOUNT = "/var/lib/csi-jfs/fs";
export const SIDECAR_VOLUME_ROOT = "/jfs";
/** JuiceFS's own default cache directory: an emptyDir of the pod is mounted at the cache directory. */
export const DEFAULT_CACHE_DIR = "/var/jfsCache";
/** Injected init containers are named with this prefix (how a re-invocation recognizes them). */
export const SIDECAR_PREFIX = "csi-jfs-";
export const INJECTED_ANNOTATION = "jfs.csi.dev/injected";
/** Pod labels that opt a pod out (ours and JuiceFS CSI's). */
export const OPT_OUT_LABELS: Record<string, readonly string[]> = {
  "jfs.csi.dev/inject": ["disabled", "false"],
  "disable.sidecar.juicefs.com/inject": ["true"],
};

export type { VolumeBind } from "../supervisor/volume_binds.ts";

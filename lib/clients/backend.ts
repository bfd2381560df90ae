import { createHash } from "node:crypto";
import type { FsSettings } from "../juicefs/settings.ts";
import type { MountTable } from "../mount/mountinfo.ts";
import { DEFAULT_POD_SETTINGS, type MountPodSettings, podSettingsIdentity } from "./pod_settings.ts";

/** One JuiceFS client to run: a file system with a set of mount flags. */
export interface ClientSpec {
  settings: FsSettings;
  mountFlags: string[];
  /** How its Mount Pod looks (pod mode; the process backend ignores them). */
  podSettings?: MountPodSettings;
}

export interface ClientMount {
  key: string;
  /** Where the file system root is mounted on this node. */
  mountPath: string;
}

/** Which volume a stage is for, so a backend can show who uses a client (and whom to tell). */
export interface ClientUse {
  volumeId: string;
  /** The app pod, when the request names it (publish with podInfoOnMount). */
  pod?: { name: string; namespace: string; uid?: string };
}

/** The use of a stage; the app pod only when kubelet names it (CSIDriver podInfoOnMount). */
export function clientUseFrom(
  volumeId: string,
  volumeContext: Record<string, string> | undefined,
): ClientUse {
  const name = volumeContext?.["csi.storage.k8s.io/pod.name"];
  const namespace = volumeContext?.["csi.storage.k8s.io/pod.namespace"];
  const uid = volumeContext?.["csi.storage.k8s.io/pod.uid"];
  return { volumeId, ...(name && namespace ? { pod: { name, namespace, ...(uid ? { uid } : {}) } } : {}) };
}

/**
 * Runs shared JuiceFS clients on a node. `process` starts mount-supervisor children;
 * `pod` creates Mount Pods. Both are idempotent and safe under concurrency.
 */
export interface MountBackend {
  ensure(spec: ClientSpec, use?: ClientUse): Promise<ClientMount>;
  release(key: string): Promise<void>;
  /**
   * Clients this backend runs now, found from the node (so a restarted plugin adopts them);
   * `table`: the mount table its caller already read for the same call.
   */
  list(table?: MountTable): Promise<ClientMount[]>;
  /** A volume no longer uses its client (unstaged); best effort. */
  forget?(volumeId: string): Promise<void>;
}

/**
 * Volumes that can share a client share a key: same file system, same metadata
 * address and credentials, same mount flags (and, when not the defaults, the same Mount Pod
 * settings). Secrets enter only as a digest.
 */
export function clientKey(spec: ClientSpec): string {
  const s = spec.settings;
  const parts: unknown[] = [s.name, s.metaUrl, Object.entries(s.secretEnv).sort(), spec.mountFlags];
  const pod = spec.podSettings ? podSettingsIdentity(spec.podSettings) : undefined;
  // Default settings add nothing, so keys of default clients stay what they were.
  if (pod !== undefined && pod !== podSettingsIdentity(DEFAULT_POD_SETTINGS as MountPodSettings)) {
    parts.push(pod);
  }
  const identity = JSON.stringify(parts);
  return `${s.name}-${createHash("sha256").update(identity).digest("hex").slice(0, 12)}`;
}

import { createHash } from "node:crypto";
import type { FsSettings } from "../juicefs/settings.ts";

/** One JuiceFS client to run: a file system with a set of mount flags. */
export interface ClientSpec {
  settings: FsSettings;
  mountFlags: string[];
}

export interface ClientMount {
  key: string;
  /** Where the file system root is mounted on this node. */
  mountPath: string;
}

/**
 * Runs shared JuiceFS clients on a node. `process` starts mount-supervisor children;
 * `pod` (its own issue) creates Mount Pods. Both are idempotent and safe under concurrency.
 */
export interface MountBackend {
  ensure(spec: ClientSpec): Promise<ClientMount>;
  release(key: string): Promise<void>;
  /** Clients this backend runs now, found from the node (so a restarted plugin adopts them). */
  list(): Promise<ClientMount[]>;
}

/**
 * Volumes that can share a client share a key: same file system, same metadata
 * address and credentials, same mount flags. Secrets enter only as a digest.
 */
export function clientKey(spec: ClientSpec): string {
  const s = spec.settings;
  const identity = JSON.stringify([s.name, s.metaUrl, Object.entries(s.secretEnv).sort(), spec.mountFlags]);
  return `${s.name}-${createHash("sha256").update(identity).digest("hex").slice(0, 12)}`;
}

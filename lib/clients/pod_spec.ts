/**
 * What a Mount Pod and its Secret look like: names, labels, the pod spec. Pure; the backend
 * (pod_backend.ts) creates them. Nothing secret ever enters the pod: the supervisor's settings
 * (metadata password, object storage keys) are in the Secret, read by env `secretKeyRef`.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { V1Pod, V1Secret } from "../kube/kube.ts";
import type { ClientSpec } from "./backend.ts";
import { containerResources, DEFAULT_POD_SETTINGS, type MountPodSettings } from "./pod_settings.ts";
import { SETTINGS_ENV, type SupervisorSettings } from "../supervisor/settings_file.ts";

export const APP_NAME = "csi-jfs-mount";
export const PART_OF = "csi-jfs";
export const LABEL_NODE = "jfs.csi.dev/node";
export const LABEL_CLIENT = "jfs.csi.dev/client";
export const LABEL_FS = "jfs.csi.dev/fs";
export const ANNOTATION_KEY = "jfs.csi.dev/client-key";
export const ANNOTATION_MOUNT_PATH = "jfs.csi.dev/mount-path";
export const ANNOTATION_DELETE_DELAY = "jfs.csi.dev/delete-delay-ms";
/** `jfs.csi.dev/volume.<hash of the volume id>: <volume id>`, one per volume using the pod. */
export const ANNOTATION_VOLUME_PREFIX = "jfs.csi.dev/volume.";
export const CONTAINER = "jfs-mount";
/** The key of the supervisor settings in the Mount Pod's Secret. */
export const SECRET_KEY = "settings.json";
/** Where juicefs caches by default. */
const JUICEFS_CACHE_DIR = "/var/jfsCache";
/** The supervisor's own FUSE fd holder socket, private to the pod. */
const RUN_DIR = "/run/csi-jfs";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

/** A node name as a label value: itself when it fits, else a readable prefix and a hash. */
export function nodeLabel(node: string): string {
  if (/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(node)) return node;
  const prefix = node.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 40).replace(
    /^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g,
    "",
  );
  return `${prefix ? `${prefix}-` : ""}${sha(node).slice(0, 16)}`;
}

/** The client key as a label value (a key may be longer than 63 characters). */
export const clientLabel = (key: string): string => sha(key).slice(0, 16);

export const volumeAnnotation = (volumeId: string): string =>
  `${ANNOTATION_VOLUME_PREFIX}${sha(volumeId).slice(0, 16)}`;

/**
 * The one name of the Mount Pod (and its Secret) of `key` on `node`: concurrent first stages
 * of many volumes all try to create this name, so exactly one pod exists.
 */
export function mountPodName(node: string, key: string, fsName: string): string {
  const fs = fsName.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 24).replace(/^-+|-+$/g, "");
  return `${APP_NAME}-${fs ? `${fs}-` : ""}${sha(`${node}\0${key}`).slice(0, 12)}`;
}

/** Labels selecting every Mount Pod of a node. */
export function nodeSelector(node: string): string {
  return `app.kubernetes.io/name=${APP_NAME},${LABEL_NODE}=${nodeLabel(node)}`;
}

export interface MountPodInputs {
  node: string;
  namespace: string;
  key: string;
  spec: ClientSpec;
  /** The Mount Pod's image when the settings name none (the node plugin's own). */
  defaultImage: string;
  /** This client's directory in the node plugin (and the Mount Pod): holds `mnt/`. */
  clientDir: string;
  /** The fd keeper's directory of this key (its socket and release file). */
  keeperDir: string;
  /** The host paths behind clientDir and keeperDir (the state dir may be mounted elsewhere). */
  hostClientDir: string;
  hostKeeperDir: string;
  /** The host directory of juicefs's cache when the settings name none. */
  hostCacheDir: string;
  keeperSocket: string;
  /** --juicefs, --log-format, --log-level for the supervisor. */
  supervisorArgs: string[];
}

export const mountPointIn = (clientDir: string): string => join(clientDir, "mnt");

export function settingsOf(spec: ClientSpec): MountPodSettings {
  return spec.podSettings ?? (structuredClone(DEFAULT_POD_SETTINGS) as MountPodSettings);
}

/** The supervisor settings the Secret carries: the cache directory becomes juicefs's. */
export function supervisorSettings(spec: ClientSpec, clientDir: string): SupervisorSettings {
  const ps = settingsOf(spec);
  const hasCacheDir = spec.mountFlags.some((f) => f.startsWith("--cache-dir"));
  const addCacheDir = ps.cacheDir !== undefined && !hasCacheDir;
  return {
    settings: spec.settings,
    mountFlags: addCacheDir ? [...spec.mountFlags, `--cache-dir=${ps.cacheDir}`].sort() : spec.mountFlags,
    mountPoint: mountPointIn(clientDir),
  };
}

export function mountPodLabels(i: Pick<MountPodInputs, "node" | "key" | "spec">): Record<string, string> {
  const fs = i.spec.settings.name;
  return {
    ...settingsOf(i.spec).labels,
    "app.kubernetes.io/name": APP_NAME,
    "app.kubernetes.io/part-of": PART_OF,
    [LABEL_NODE]: nodeLabel(i.node),
    [LABEL_CLIENT]: clientLabel(i.key),
    ...(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(fs) ? { [LABEL_FS]: fs } : {}),
  };
}

export function buildMountPod(i: MountPodInputs): V1Pod {
  const ps = settingsOf(i.spec);
  const name = mountPodName(i.node, i.key, i.spec.settings.name);
  const mountPoint = mountPointIn(i.clientDir);
  const hostPath = (path: string, type: string) => ({ hostPath: { path, type } });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: i.namespace,
      labels: mountPodLabels(i),
      annotations: {
        ...ps.annotations,
        [ANNOTATION_KEY]: i.key,
        [ANNOTATION_MOUNT_PATH]: mountPoint,
        [ANNOTATION_DELETE_DELAY]: String(ps.deleteDelayMs),
      },
    },
    spec: {
      nodeName: i.node,
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      priorityClassName: "system-node-critical",
      // The supervisor restarts juicefs itself; kubelet restarts a supervisor that died.
      restartPolicy: "Always",
      // A stop hands the FUSE connection over (or unmounts) within its own deadlines.
      terminationGracePeriodSeconds: 60,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      tolerations: [{ operator: "Exists" }],
      containers: [{
        name: CONTAINER,
        image: ps.image ?? i.defaultImage,
        args: [
          "--mode=mount-supervisor",
          `--fd-keeper=${i.keeperSocket}`,
          "--keep-mount-on-term",
          `--fd-socket=${join(RUN_DIR, "fuse-fd.sock")}`,
          ...i.supervisorArgs,
        ],
        env: [{ name: SETTINGS_ENV, valueFrom: { secretKeyRef: { name, key: SECRET_KEY } } }],
        securityContext: { privileged: true },
        resources: containerResources(ps),
        volumeMounts: [
          { name: "client", mountPath: i.clientDir, mountPropagation: "Bidirectional" },
          { name: "fd-keeper", mountPath: i.keeperDir },
          { name: "fuse-device", mountPath: "/dev/fuse" },
          { name: "run", mountPath: RUN_DIR },
          // juicefs's default cache directory unless the settings name one.
          { name: "cache", mountPath: ps.cacheDir ?? JUICEFS_CACHE_DIR },
          ...ps.hostPaths.map((path, n) => ({ name: `host-path-${n}`, mountPath: path })),
        ],
      }],
      volumes: [
        { name: "client", ...hostPath(i.hostClientDir, "DirectoryOrCreate") },
        { name: "fd-keeper", ...hostPath(i.hostKeeperDir, "DirectoryOrCreate") },
        { name: "fuse-device", ...hostPath("/dev/fuse", "CharDevice") },
        { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
        { name: "cache", ...hostPath(ps.cacheDir ?? i.hostCacheDir, "DirectoryOrCreate") },
        ...ps.hostPaths.map((path, n) => ({
          name: `host-path-${n}`,
          ...hostPath(path, "DirectoryOrCreate"),
        })),
      ],
    },
  };
}

/** The Secret of the Mount Pod, owned by it (it goes with the pod). */
export function buildSettingsSecret(
  i: Pick<MountPodInputs, "node" | "namespace" | "key">,
  owner: { name: string; uid: string },
  settingsText: string,
): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: owner.name,
      namespace: i.namespace,
      labels: {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/part-of": PART_OF,
        [LABEL_NODE]: nodeLabel(i.node),
        [LABEL_CLIENT]: clientLabel(i.key),
      },
      annotations: { [ANNOTATION_KEY]: i.key },
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: owner.name, uid: owner.uid }],
    },
    stringData: { [SECRET_KEY]: settingsText },
  };
}

/** The supervisor settings text a Mount Pod's Secret holds (adoption by a restarted node plugin). */
export function settingsTextFromSecret(secret: V1Secret): string | undefined {
  const raw = secret.data?.[SECRET_KEY];
  const text = raw !== undefined
    ? new TextDecoder().decode(decodeBase64(raw))
    : secret.stringData?.[SECRET_KEY];
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as SupervisorSettings;
    return s.settings?.metaUrl && s.mountPoint ? text : undefined;
  } catch {
    return undefined;
  }
}

/** A pod as it can be created again: what the API added (uid, status, versions) removed. */
export function asTemplate(pod: V1Pod): V1Pod {
  const m = pod.metadata ?? {};
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...(m.name ? { name: m.name } : {}),
      ...(m.namespace ? { namespace: m.namespace } : {}),
      labels: { ...(m.labels ?? {}) },
      annotations: { ...(m.annotations ?? {}) },
    },
    ...(pod.spec ? { spec: structuredClone(pod.spec) } : {}),
  };
}

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

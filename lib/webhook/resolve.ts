import { createHash } from "node:crypto";
import { clientKey } from "../clients/backend.ts";
import { aborted, Code, CodedError } from "../errors.ts";
import { mountFlags } from "../juicefs/mount_options.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { volumeSubdir } from "../csi/node_paths.ts";
import type { SupervisorSettings } from "../supervisor/settings_file.ts";
import type { ClaimFacts, SidecarContainer } from "./facts.ts";
import { SETTINGS_KEY, SIDECAR_FS_MOUNT } from "./facts.ts";
import type { InjectorKube, PvcInfo, PvInfo, SecretObject, SecretRef, StorageClassInfo } from "./kube.ts";

export interface ResolverOptions {
  driverName: string;
  /** The sidecar's settings from a StorageClass's parameters (shared with Mount Pods). */
  sidecarContainer(parameters: Record<string, string>): SidecarContainer;
  /** How long a read of the server version is trusted. */
  versionTtlMs?: number;
  now?: () => number;
}

/** Why this claim is refused (one line), thrown inside resolve and turned into a fact. */
class Refusal extends Error {}
const refuse = (msg: string): never => {
  throw new Refusal(msg);
};

const MANAGED_BY = { "app.kubernetes.io/managed-by": "csi-jfs-sidecar-injector" };
const NATIVE_SIDECARS = { major: 1, minor: 29 };

/** `${pvc.namespace}`-style templates of csi-provisioner's secret parameters. */
function renderRef(template: string, pvc: PvcInfo, pv: PvInfo): string {
  return template.replace(
    /\$\{\s*(pvc\.namespace|pvc\.name|pv\.name)\s*\}/g,
    (_, v: string) => v === "pvc.namespace" ? pvc.namespace : v === "pvc.name" ? pvc.name : pv.name,
  );
}

function secretRefOf(
  pv: PvInfo,
  pvc: PvcInfo,
  sc: StorageClassInfo | undefined,
): [SecretRef, string] | undefined {
  const csi = pv.csi;
  if (csi?.nodeStageSecretRef) return [csi.nodeStageSecretRef, "nodeStageSecretRef"];
  if (csi?.nodePublishSecretRef) return [csi.nodePublishSecretRef, "nodePublishSecretRef"];
  const p = sc?.parameters ?? {};
  for (const kind of ["node-stage", "provisioner"]) {
    const name = p[`csi.storage.k8s.io/${kind}-secret-name`];
    const namespace = p[`csi.storage.k8s.io/${kind}-secret-namespace`];
    if (name && namespace) {
      return [
        { name: renderRef(name, pvc, pv), namespace: renderRef(namespace, pvc, pv) },
        `StorageClass ${kind} secret`,
      ];
    }
  }
  return undefined;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Follows each PVC of a pod to its PV, StorageClass and Secret and tells the mutation what it
 * needs; for a PVC of ours it also writes the per-client settings Secret in the pod's
 * namespace (owned by the PVCs that use it), unless the request is a dry run.
 */
export class ClaimResolver {
  private version: { at: number; value: { major: number; minor: number; gitVersion: string } } | undefined;
  private readonly now: () => number;

  constructor(private kube: InjectorKube, private o: ResolverOptions) {
    this.now = o.now ?? Date.now;
  }

  async resolve(namespace: string, claims: string[], dryRun: boolean): Promise<Map<string, ClaimFacts>> {
    const out = new Map<string, ClaimFacts>();
    for (const name of claims) {
      try {
        out.set(name, await this.resolveOne(namespace, name, dryRun));
      } catch (e) {
        if (e instanceof Refusal) out.set(name, { kind: "refuse", reason: e.message });
        else throw e;
      }
    }
    return out;
  }

  private async serverVersion() {
    const ttl = this.o.versionTtlMs ?? 600_000;
    if (!this.version || this.now() - this.version.at > ttl) {
      this.version = { at: this.now(), value: await this.kube.serverVersion() };
    }
    return this.version.value;
  }

  private async resolveOne(ns: string, name: string, dryRun: boolean): Promise<ClaimFacts> {
    const driver = this.o.driverName;
    const pvc = await this.kube.getPvc(ns, name);
    if (!pvc) {
      return refuse(
        `PVC ${ns}/${name} not found: create it (and let it bind) before the pod in sidecar mode`,
      );
    }
    if (!pvc.volumeName || pvc.phase !== "Bound") {
      const sc = pvc.storageClassName ? await this.kube.getStorageClass(pvc.storageClassName) : undefined;
      if (sc && sc.provisioner !== driver) return { kind: "foreign" };
      const mode = sc?.volumeBindingMode
        ? ` (StorageClass ${sc.name} has volumeBindingMode ${sc.volumeBindingMode})`
        : "";
      return refuse(
        `PVC ${ns}/${name} is not bound yet${mode}: sidecar mode needs a bound PVC; use volumeBindingMode: Immediate and wait for Bound`,
      );
    }
    const pv = await this.kube.getPv(pvc.volumeName);
    if (!pv) return refuse(`PV ${pvc.volumeName} of PVC ${ns}/${name} not found`);
    if (pv.csi?.driver !== driver) return { kind: "foreign" };
    const ref = pv.claimRef;
    if (ref?.namespace !== ns || ref?.name !== name || (ref.uid && ref.uid !== pvc.uid)) {
      return refuse(`PV ${pv.name} is not bound to PVC ${ns}/${name}`);
    }
    const v = await this.serverVersion();
    if (
      v.major < NATIVE_SIDECARS.major ||
      (v.major === NATIVE_SIDECARS.major && v.minor < NATIVE_SIDECARS.minor)
    ) {
      return refuse(
        `Kubernetes ${v.gitVersion} has no native sidecars: csi-jfs sidecar mode needs Kubernetes 1.29 or newer`,
      );
    }
    if (pvc.volumeMode === "Block" || pv.volumeMode === "Block") {
      return refuse(
        `PVC ${ns}/${name} has volumeMode Block: csi-jfs volumes are file systems (volumeMode Filesystem)`,
      );
    }
    const sc = pv.storageClassName ? await this.kube.getStorageClass(pv.storageClassName) : undefined;
    const found = secretRefOf(pv, pvc, sc);
    if (!found) {
      return refuse(
        `PV ${pv.name} of ${driver} names no Secret (no nodeStageSecretRef, no StorageClass secret parameters): ` +
          `set csi.storage.k8s.io/node-stage-secret-name and -namespace`,
      );
    }
    const [sref, via] = found;
    const secret = await this.kube.getSecret(sref.namespace, sref.name).catch((e) =>
      refuse(
        `PV ${pv.name}: Secret ${sref.namespace}/${sref.name} (${via}) cannot be read: ${
          (e as Error).message
        }`,
      )
    );
    if (!secret) return refuse(`PV ${pv.name}: Secret ${sref.namespace}/${sref.name} (${via}) not found`);
    const csi = pv.csi;
    let settings, flags, subdir;
    try {
      settings = settingsFromSecrets(secret.data);
      flags = mountFlags(pv.mountOptions, csi.volumeAttributes["mountOptions"]);
      subdir = volumeSubdir(csi.volumeHandle, csi.volumeAttributes);
    } catch (e) {
      if (e instanceof CodedError) return refuse(`PV ${pv.name}: ${e.message}`);
      throw e;
    }
    const readOnly = pvc.accessModes.length > 0 && pvc.accessModes.every((m) => m === "ReadOnlyMany");
    const container = (() => {
      try {
        return this.o.sidecarContainer(sc?.parameters ?? {});
      } catch (e) {
        if (e instanceof CodedError) return refuse(`StorageClass ${sc?.name}: ${e.message}`);
        throw e;
      }
    })();
    // As in Mount Pods: the cache goes to the settings' directory unless the options name one.
    const clientFlags = container.cacheDir && !flags.some((f) => f.startsWith("--cache-dir"))
      ? [...flags, `--cache-dir=${container.cacheDir}`].sort()
      : flags;
    // One sidecar per client and container settings (image, resources, cache directory).
    const key = `${clientKey({ settings, mountFlags: clientFlags })}-${
      createHash("sha256").update(JSON.stringify(container)).digest("hex").slice(0, 6)
    }`;
    const settingsSecret = `csi-jfs-${key}`;
    const content: SupervisorSettings = { settings, mountFlags: clientFlags, mountPoint: SIDECAR_FS_MOUNT };
    if (!dryRun) await this.ensureSettingsSecret(ns, settingsSecret, JSON.stringify(content), pvc);
    return {
      kind: "ours",
      clientKey: key,
      fsName: settings.name,
      subdir,
      readOnly,
      settingsSecret,
      container,
    };
  }

  /** Create-or-update, owned by every PVC that uses it; a lost race re-reads and merges. */
  private async ensureSettingsSecret(ns: string, name: string, value: string, pvc: PvcInfo): Promise<void> {
    const owner = { apiVersion: "v1", kind: "PersistentVolumeClaim", name: pvc.name, uid: pvc.uid };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.kube.getSecret(ns, name);
      if (
        current &&
        current.labels?.["app.kubernetes.io/managed-by"] !== MANAGED_BY["app.kubernetes.io/managed-by"]
      ) {
        // Never overwrite a Secret someone else made under our name.
        return refuse(`Secret ${ns}/${name} exists and is not managed by csi-jfs: rename or remove it`);
      }
      const owners = current?.ownerReferences ?? [];
      const merged = owners.some((o) => o.uid === owner.uid) ? owners : [...owners, owner];
      const want: SecretObject = {
        name,
        namespace: ns,
        data: { [SETTINGS_KEY]: value },
        labels: MANAGED_BY,
        ownerReferences: merged,
      };
      if (current && current.data[SETTINGS_KEY] === value && sameJson(merged, owners)) return;
      try {
        if (!current) await this.kube.createSecret(want);
        else {await this.kube.replaceSecret({
            ...want,
            ...(current.resourceVersion ? { resourceVersion: current.resourceVersion } : {}),
          });}
        return;
      } catch (e) {
        // Another admission wrote it first (ALREADY_EXISTS, ABORTED): read it again and merge.
        if (e instanceof CodedError && (e.code === Code.ALREADY_EXISTS || e.code === Code.ABORTED)) continue;
        throw e;
      }
    }
    throw aborted(`Secret ${ns}/${name} keeps changing; retry`);
  }
}

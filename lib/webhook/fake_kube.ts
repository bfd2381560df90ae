import { aborted, alreadyExists, notFound } from "../errors.ts";
import type { InjectorKube, PvcInfo, PvInfo, SecretObject, StorageClassInfo } from "./kube.ts";

/** An in-memory API for tests: objects by key, a write counter, injected failures. */
export class FakeInjectorKube implements InjectorKube {
  pvcs = new Map<string, PvcInfo>();
  pvs = new Map<string, PvInfo>();
  classes = new Map<string, StorageClassInfo>();
  secrets = new Map<string, SecretObject>();
  caBundles = new Map<string, string>();
  version = { major: 1, minor: 31, gitVersion: "v1.31.0" };
  writes = 0;
  /** Errors thrown by the next call of a method, by method name. */
  failNext = new Map<string, Error>();
  /** Called before a secret write lands: lets a test race another writer in. */
  beforeSecretWrite?: () => void;
  private rv = 1;

  private fail(method: string): void {
    const e = this.failNext.get(method);
    if (e) {
      this.failNext.delete(method);
      throw e;
    }
  }

  getPvc(namespace: string, name: string): Promise<PvcInfo | undefined> {
    this.fail("getPvc");
    return Promise.resolve(structuredClone(this.pvcs.get(`${namespace}/${name}`)));
  }
  getPv(name: string): Promise<PvInfo | undefined> {
    this.fail("getPv");
    return Promise.resolve(structuredClone(this.pvs.get(name)));
  }
  getStorageClass(name: string): Promise<StorageClassInfo | undefined> {
    this.fail("getStorageClass");
    return Promise.resolve(structuredClone(this.classes.get(name)));
  }
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      this.fail("getSecret");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(structuredClone(this.secrets.get(`${namespace}/${name}`)));
  }
  createSecret(secret: SecretObject): Promise<void> {
    this.fail("createSecret");
    this.beforeSecretWrite?.();
    const key = `${secret.namespace}/${secret.name}`;
    if (this.secrets.has(key)) return Promise.reject(alreadyExists(`secret ${key} exists`));
    this.writes++;
    this.secrets.set(key, { ...structuredClone(secret), resourceVersion: String(this.rv++) });
    return Promise.resolve();
  }
  replaceSecret(secret: SecretObject): Promise<void> {
    this.fail("replaceSecret");
    this.beforeSecretWrite?.();
    const key = `${secret.namespace}/${secret.name}`;
    const cur = this.secrets.get(key);
    if (!cur) return Promise.reject(notFound(`secret ${key} not found`));
    if (secret.resourceVersion && secret.resourceVersion !== cur.resourceVersion) {
      return Promise.reject(aborted(`secret ${key} changed`));
    }
    this.writes++;
    this.secrets.set(key, { ...structuredClone(secret), resourceVersion: String(this.rv++) });
    return Promise.resolve();
  }
  serverVersion() {
    this.fail("serverVersion");
    return Promise.resolve({ ...this.version });
  }
  setWebhookCaBundle(configName: string, caPem: string): Promise<void> {
    this.fail("setWebhookCaBundle");
    this.caBundles.set(configName, caPem);
    return Promise.resolve();
  }

  /** A bound PVC of `driver` with its PV and a Secret, the common case of the tests. */
  addBoundClaim(
    ns: string,
    name: string,
    o: { driver?: string; handle?: string; accessModes?: string[]; secret?: Record<string, string> | null } =
      {},
  ): void {
    const pv = `pv-${name}`;
    const uid = `uid-${ns}-${name}`;
    const accessModes = o.accessModes ?? ["ReadWriteMany"];
    this.pvcs.set(`${ns}/${name}`, {
      name,
      namespace: ns,
      uid,
      phase: "Bound",
      volumeName: pv,
      storageClassName: "jfs",
      accessModes,
    });
    this.pvs.set(pv, {
      name: pv,
      accessModes,
      mountOptions: [],
      storageClassName: "jfs",
      claimRef: { namespace: ns, name, uid },
      csi: {
        driver: o.driver ?? "jfs.csi.dev",
        volumeHandle: o.handle ?? `jfs1/fs1/delete/${pv}`,
        volumeAttributes: {},
        nodeStageSecretRef: { name: `secret-${name}`, namespace: "csi-jfs" },
      },
    });
    if (o.secret !== null) {
      this.secrets.set(`csi-jfs/secret-${name}`, {
        name: `secret-${name}`,
        namespace: "csi-jfs",
        data: o.secret ?? { name: "fs1", metaurl: "redis://:hunter2-pass@127.0.0.1:6379/1" },
      });
    }
  }
}

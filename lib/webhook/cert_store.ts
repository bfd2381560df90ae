import { Code, CodedError } from "../errors.ts";
import { logger } from "../log.ts";
import { type CertBundle, createBundle, issueServing, renewalNeeded, type ServingNames } from "./certs.ts";
import type { InjectorKube, SecretObject } from "./kube.ts";

const log = logger("webhook", "certs");
const KEYS = {
  caCert: "ca.crt",
  caKey: "ca.key",
  cert: "tls.crt",
  key: "tls.key",
  previous: "ca-previous.crt",
} as const;

export interface CertStoreOptions {
  namespace: string;
  secretName: string;
  names: ServingNames;
  now?: () => Date;
}

function fromSecret(s: SecretObject): CertBundle | undefined {
  const b = {
    caCert: s.data[KEYS.caCert] ?? "",
    caKey: s.data[KEYS.caKey] ?? "",
    cert: s.data[KEYS.cert] ?? "",
    key: s.data[KEYS.key] ?? "",
  };
  const previous = s.data[KEYS.previous];
  return b.caCert && b.caKey ? { ...b, ...(previous ? { previousCaCert: previous } : {}) } : undefined;
}

function toData(b: CertBundle): Record<string, string> {
  return {
    [KEYS.caCert]: b.caCert,
    [KEYS.caKey]: b.caKey,
    [KEYS.cert]: b.cert,
    [KEYS.key]: b.key,
    ...(b.previousCaCert ? { [KEYS.previous]: b.previousCaCert } : {}),
  };
}

/**
 * The injector's certificates live in one Secret so that restarts and replicas serve the same
 * CA. ensure() is create-or-get: the replica that loses a creation race (ALREADY_EXISTS) or an
 * update race (ABORTED) reads the winner's bundle and uses it.
 */
export class CertStore {
  private readonly now: () => Date;
  constructor(private kube: InjectorKube, private o: CertStoreOptions) {
    this.now = o.now ?? (() => new Date());
  }

  async ensure(): Promise<CertBundle> {
    const { namespace, secretName } = this.o;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.kube.getSecret(namespace, secretName);
      const stored = current ? fromSecret(current) : undefined;
      const need = stored ? await renewalNeeded(stored, this.o.names, this.now()) : "all";
      if (stored && need === "none") return stored;
      const next = stored && need === "serving"
        ? {
          ...stored,
          ...(await issueServing({ cert: stored.caCert, key: stored.caKey }, this.o.names, this.now())),
        }
        : {
          ...(await createBundle(this.o.names, this.now())),
          // Replicas still serving the old CA's certificate stay trusted until they reload.
          ...(stored ? { previousCaCert: stored.caCert } : {}),
        };
      const secret: SecretObject = {
        name: secretName,
        namespace,
        data: toData(next),
        labels: { "app.kubernetes.io/managed-by": "csi-jfs-sidecar-injector" },
        ...(current?.resourceVersion ? { resourceVersion: current.resourceVersion } : {}),
      };
      try {
        if (current) await this.kube.replaceSecret(secret);
        else await this.kube.createSecret(secret);
        log.info("{what} in Secret {ns}/{name}", {
          what: need === "serving"
            ? "renewed the serving certificate"
            : "created a CA and serving certificate",
          ns: namespace,
          name: secretName,
        });
        return next;
      } catch (e) {
        if (e instanceof CodedError && (e.code === Code.ALREADY_EXISTS || e.code === Code.ABORTED)) {
          log.info("another replica wrote Secret {ns}/{name} first: using its certificates", {
            ns: namespace,
            name: secretName,
          });
          continue;
        }
        throw e;
      }
    }
    throw new CodedError(Code.ABORTED, `Secret ${namespace}/${secretName} keeps changing; giving up for now`);
  }
}

import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Secret,
} from "@kubernetes/client-node";
import { Code, CodedError } from "../errors.ts";
import { kubeError } from "../kube/kube_errors.ts";
import { encodeBase64Text } from "./base64.ts";
import type { InjectorWrites } from "./kube_adapter.ts";

/** The injector's writes over @kubernetes/client-node (see InjectorWrites for why they are here). */
export class RealInjectorWrites implements InjectorWrites {
  private core: CoreV1Api;
  private admission: AdmissionregistrationV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  async createSecret(namespace: string, secret: V1Secret): Promise<void> {
    try {
      await this.core.createNamespacedSecret({ namespace, body: secret });
    } catch (e) {
      throw kubeError(`create secret ${namespace}/${secret.metadata?.name}`, e);
    }
  }

  async replaceSecret(namespace: string, secret: V1Secret): Promise<void> {
    const name = secret.metadata?.name ?? "";
    try {
      await this.core.replaceNamespacedSecret({ namespace, name, body: secret });
    } catch (e) {
      throw kubeError(`replace secret ${namespace}/${name}`, e);
    }
  }

  /** Read-modify-replace of every webhook's caBundle, retried on a conflict. */
  async setWebhookCaBundle(configName: string, caPem: string): Promise<void> {
    const caBundle = encodeBase64Text(caPem);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const cfg = await this.admission.readMutatingWebhookConfiguration({ name: configName });
        const hooks = cfg.webhooks ?? [];
        if (hooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
        for (const w of hooks) w.clientConfig.caBundle = caBundle;
        await this.admission.replaceMutatingWebhookConfiguration({ name: configName, body: cfg });
        return;
      } catch (e) {
        const err = kubeError(`update mutatingwebhookconfiguration ${configName}`, e);
        if (err.code !== Code.ABORTED) throw err;
      }
    }
    throw new CodedError(Code.ABORTED, `mutatingwebhookconfiguration ${configName} keeps changing`);
  }
}

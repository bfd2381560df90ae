import type { Config, InjectorConfig } from "../lib/config.ts";
import { UsageError } from "../lib/config.ts";
import { logger } from "../lib/log.ts";
import { redact } from "../lib/redact.ts";
import { loadKubeConfig, RealKube } from "../lib/kube/real_kube.ts";
import type { Kube } from "../lib/kube/kube.ts";
import { FacadeInjectorKube } from "../lib/webhook/kube_adapter.ts";
import { RealInjectorWrites } from "../lib/webhook/kube_writes.ts";
import type { InjectorKube } from "../lib/webhook/kube.ts";
import { CertStore } from "../lib/webhook/cert_store.ts";
import { caBundleOf, type ServingNames } from "../lib/webhook/certs.ts";
import { ClaimResolver } from "../lib/webhook/resolve.ts";
import { handleReview } from "../lib/webhook/review.ts";
import { WebhookServer } from "../lib/webhook/server.ts";
import { sidecarContainerFrom } from "../lib/webhook/sidecar_container.ts";
import { untilStopSignal } from "./signals.ts";
import { startWebhookOperations } from "./operations.ts";
import { admissionDone } from "../lib/metrics/webhook_metrics.ts";

const log = logger("sidecar-injector");
/** How often the stored certificates are checked (renewal by any replica is picked up too). */
const CERT_CHECK_MS = 60 * 60_000;
/** Until the caBundle is written once (the configuration may be applied after us). */
const CA_RETRY_MS = 10_000;

export function servingNames(o: InjectorConfig): ServingNames {
  const svc = o.serviceName, ns = o.namespace;
  return {
    dnsNames: [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`],
    ips: ["127.0.0.1"],
  };
}

/** The image this injector runs, from its own pod (POD_NAME, POD_NAMESPACE from the downward API). */
async function ownImage(kube: Kube, namespace: string): Promise<string> {
  const name = Deno.env.get("POD_NAME");
  if (!name) throw new UsageError("--sidecar-image is needed when POD_NAME is not set (outside a pod)");
  const pod = await kube.getPod(namespace, name);
  const c = pod?.spec?.containers?.find((c) => c.name === "csi-jfs") ?? pod?.spec?.containers?.[0];
  if (!c?.image) {
    throw new UsageError(`cannot read the image of pod ${namespace}/${name}: pass --sidecar-image`);
  }
  return c.image;
}

export interface InjectorDeps {
  kube: InjectorKube;
  sidecarImage(): Promise<string>;
  stopSignal: Promise<unknown>;
}

function realDeps(o: InjectorConfig, kubeconfig: string | undefined): InjectorDeps {
  const kc = loadKubeConfig(kubeconfig);
  const facade = new RealKube(kc);
  return {
    kube: new FacadeInjectorKube(facade, new RealInjectorWrites(kc)),
    sidecarImage: () => o.sidecarImage ? Promise.resolve(o.sidecarImage) : ownImage(facade, o.namespace),
    stopSignal: untilStopSignal(),
  };
}

/** Serves the webhook until SIGTERM: certificates first, then HTTPS, then upkeep of both. */
export async function runSidecarInjector(config: Config, deps?: InjectorDeps): Promise<number> {
  const o = config.injector;
  if (!o) throw new UsageError("--mode=sidecar-injector: no injector settings");
  const d = deps ?? realDeps(o, config.kubeconfig);
  const image = await d.sidecarImage();
  const store = new CertStore(d.kube, {
    namespace: o.namespace,
    secretName: o.tlsSecret,
    names: servingNames(o),
  });
  let bundle = await store.ensure();
  const resolver = new ClaimResolver(d.kube, {
    driverName: config.driverName,
    sidecarContainer: (params) => sidecarContainerFrom(params, image),
  });
  const server = new WebhookServer({
    hostname: o.hostname,
    port: o.port,
    handle: (body) =>
      handleReview(body, {
        resolve: (ns, claims, dry) => resolver.resolve(ns, claims, dry),
        answered: admissionDone,
      }),
  });
  const operations = await startWebhookOperations(config);
  await server.start(bundle.cert, bundle.key);
  log.info("injecting {image} for {driver} volumes", { image, driver: config.driverName });

  let caPublished = "";
  const publishCa = async () => {
    const ca = caBundleOf(bundle, new Date());
    if (caPublished === ca) return;
    try {
      await d.kube.setWebhookCaBundle(o.webhookConfig, ca);
      caPublished = ca;
      log.info("caBundle of {cfg} is current", { cfg: o.webhookConfig });
    } catch (e) {
      log.warn("cannot set the caBundle of {cfg} (retrying): {error}", {
        cfg: o.webhookConfig,
        error: redact(String((e as Error)?.message ?? e)),
      });
    }
  };
  const upkeep = async () => {
    try {
      const next = await store.ensure();
      if (next.cert !== bundle.cert || next.key !== bundle.key) {
        bundle = next;
        server.reload(bundle.cert, bundle.key);
      }
    } catch (e) {
      log.warn("certificate check failed (retrying): {error}", {
        error: redact(String((e as Error)?.message ?? e)),
      });
    }
    await publishCa();
  };
  await publishCa();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => void upkeep().then(schedule),
      caPublished === caBundleOf(bundle, new Date()) ? CERT_CHECK_MS : CA_RETRY_MS,
    );
  };
  schedule();
  await d.stopSignal;
  stopped = true;
  clearTimeout(timer);
  log.info("stopping");
  await server.close();
  await operations.stop();
  return 0;
}

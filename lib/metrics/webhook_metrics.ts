/**
 * The sidecar injector's metric. Its mode calls `admissionDone(result)` once
 * per AdmissionReview answered, and `serveMetrics(config.metricsAddress)` at start.
 */
import { client, registry } from "./registry.ts";

export type AdmissionResult = "injected" | "unchanged" | "denied" | "error";

const admissions = new client.Counter({
  name: "csi_jfs_webhook_admissions_total",
  help: "AdmissionReviews answered by the sidecar injector, by result",
  labelNames: ["result"] as const,
  registers: [registry],
});

export function admissionDone(result: AdmissionResult): void {
  admissions.inc({ result });
}

import { encodeBase64 } from "./base64.ts";
import { redact } from "../redact.ts";
import { logger } from "../log.ts";
import type { ClaimFacts } from "./facts.ts";
import { claimNames, type Decision, mutatePod, optedOut } from "./mutate.ts";
import { DNS_LABEL, isObject, type JsonObject, str } from "./pod_json.ts";

const log = logger("webhook");

/** A body larger than this is refused before parsing (pods are far smaller; etcd stops at 1.5 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export type ReviewResult = "injected" | "unchanged" | "denied" | "error";

export interface ReviewDeps {
  resolve(namespace: string, claims: string[], dryRun: boolean): Promise<Map<string, ClaimFacts>>;
  /** Told how each body was answered (the admissions metric). */
  answered?(result: ReviewResult): void;
}

const RESULT: Record<Decision["kind"], ReviewResult> = {
  patch: "injected",
  allow: "unchanged",
  deny: "denied",
};

export interface HttpAnswer {
  status: number;
  body: string;
}

const UID_RE = /^[A-Za-z0-9-]{1,128}$/;

function plain(status: number, message: string): HttpAnswer {
  return { status, body: JSON.stringify({ error: message }) };
}

function review(uid: string, d: Decision): HttpAnswer {
  const response: JsonObject = { uid, allowed: d.kind !== "deny" };
  if (d.kind === "patch") {
    response["patchType"] = "JSONPatch";
    response["patch"] = encodeBase64(new TextEncoder().encode(JSON.stringify(d.patch)));
  }
  if (d.kind === "deny") response["status"] = { code: 403, reason: "Forbidden", message: redact(d.reason) };
  return {
    status: 200,
    body: JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }),
  };
}

/** Checks an AdmissionReview; answers 400 for what is not one, a denial for a review we cannot serve. */
function readRequest(v: unknown): { uid: string; request: JsonObject } | HttpAnswer {
  if (!isObject(v)) return plain(400, "the body is not a JSON object");
  if (v["apiVersion"] !== "admission.k8s.io/v1" || v["kind"] !== "AdmissionReview") {
    return plain(400, "expected an admission.k8s.io/v1 AdmissionReview");
  }
  const request = v["request"];
  if (!isObject(request)) return plain(400, "the AdmissionReview has no request");
  const uid = request["uid"];
  if (typeof uid !== "string" || !UID_RE.test(uid)) return plain(400, "request.uid is missing or malformed");
  return { uid, request };
}

/**
 * The webhook as a function of the request body: parse, check, resolve the pod's PVCs,
 * mutate. Every path ends in an answer; nothing the body holds can make it throw.
 */
export async function handleReview(body: string, deps: ReviewDeps): Promise<HttpAnswer> {
  const { answer, result } = await answerReview(body, deps);
  deps.answered?.(result);
  return answer;
}

async function answerReview(
  body: string,
  deps: ReviewDeps,
): Promise<{ answer: HttpAnswer; result: ReviewResult }> {
  const error = (answer: HttpAnswer) => ({ answer, result: "error" as const });
  const decided = (uid: string, d: Decision) => ({ answer: review(uid, d), result: RESULT[d.kind] });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return error(plain(400, "the body is not JSON"));
  }
  const r = readRequest(parsed);
  if ("status" in r) return error(r);
  const { uid, request } = r;
  const kind = request["kind"];
  if (!isObject(kind) || kind["group"] !== "" || kind["version"] !== "v1" || kind["kind"] !== "Pod") {
    return decided(uid, { kind: "deny", reason: "csi-jfs sidecar injector only handles v1 Pods" });
  }
  if (request["operation"] !== "CREATE") {
    return decided(uid, { kind: "deny", reason: "csi-jfs sidecar injector only handles pod creation" });
  }
  const namespace = request["namespace"];
  if (typeof namespace !== "string" || !DNS_LABEL.test(namespace)) {
    return decided(uid, { kind: "deny", reason: "request.namespace is missing or not a namespace name" });
  }
  const pod = request["object"];
  const started = performance.now();
  let decision: Decision;
  try {
    const claims = optedOut(pod) ? [] : claimNames(pod);
    // No PVC at all: nothing to look up (and the mutation still fixes up a re-invoked pod).
    const facts = claims.length
      ? await deps.resolve(namespace, claims, request["dryRun"] === true)
      : new Map();
    decision = mutatePod(pod, facts);
  } catch (e) {
    log.warn("review {uid}: {error}", { uid, error: redact(String(e)) });
    decision = {
      kind: "deny",
      reason: `csi-jfs sidecar injector could not resolve the pod's volumes: ${
        String((e as Error)?.message ?? e).split("\n")[0]
      }`,
    };
  }
  const meta = isObject(pod) ? pod["metadata"] : undefined;
  log.info("{ns}/{pod}: {decision}{reason} ({ms}ms)", {
    ns: namespace,
    pod: (str(meta, "name") ?? `${str(meta, "generateName") ?? ""}*`).slice(0, 253),
    decision: decision.kind,
    reason: decision.kind === "deny" ? `: ${redact(decision.reason)}` : "",
    ms: Math.round(performance.now() - started),
  });
  return decided(uid, decision);
}

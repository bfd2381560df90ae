import { Code, CodedError } from "../errors.ts";
import { redact } from "../redact.ts";

/** What the API answered, as much as an error from the client library tells. */
export interface ApiFailure {
  /** HTTP status, when there was a response. */
  status?: number;
  /** The Status object's reason ("AlreadyExists", "Conflict", …). */
  reason?: string;
  /** The Status object's message: names the object, never its values. */
  message?: string;
}

/** Reads status and Status body from whatever the client library threw. */
export function apiFailureOf(e: unknown): ApiFailure {
  const err = e as { code?: unknown; body?: unknown; message?: unknown; cause?: unknown };
  const out: ApiFailure = {};
  if (typeof err?.code === "number") out.status = err.code;
  let body = err?.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch { /* not JSON */ }
  }
  const b = body as { reason?: unknown; message?: unknown } | undefined;
  if (typeof b?.reason === "string") out.reason = b.reason;
  if (typeof b?.message === "string") out.message = b.message;
  if (out.status === undefined) {
    // No response: a connection failure. fetch wraps the cause.
    const cause = err?.cause as { code?: unknown; message?: unknown } | undefined;
    const why = typeof cause?.code === "string"
      ? cause.code
      : typeof cause?.message === "string"
      ? cause.message
      : typeof err?.message === "string"
      ? err.message
      : String(e);
    out.message = why.split("\n")[0] ?? why;
  }
  return out;
}

function codeFor(f: ApiFailure): Code {
  switch (f.status) {
    case undefined:
      return Code.UNAVAILABLE;
    case 400:
    case 422:
      return Code.INVALID_ARGUMENT;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
    case 410:
      return Code.NOT_FOUND;
    case 409:
      return f.reason === "AlreadyExists" ? Code.ALREADY_EXISTS : Code.ABORTED;
    default:
      return Code.UNAVAILABLE;
  }
}

/**
 * A coded error for a failed API call: "kubernetes: create pod csi-jfs/x: <reason> (HTTP 409)".
 * Only the Status message enters, redacted, cut to one line: a request body (a Secret's data)
 * never does, as the client library's own message would carry it.
 */
export function kubeError(op: string, e: unknown): CodedError {
  if (e instanceof CodedError) return e;
  const f = apiFailureOf(e);
  const what = (f.message ?? f.reason ?? "no reason given").split("\n")[0]!.slice(0, 300);
  const http = f.status !== undefined ? ` (HTTP ${f.status})` : " (API server not reachable)";
  return new CodedError(codeFor(f), redact(`kubernetes: ${op}: ${what}${http}`));
}

export const isNotFound = (e: unknown): boolean => e instanceof CodedError && e.code === Code.NOT_FOUND;
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof CodedError && e.code === Code.ALREADY_EXISTS;

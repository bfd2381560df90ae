import type * as grpc from "@grpc/grpc-js";
import { codeName, codeOf, messageOf } from "../errors.ts";
import { logger } from "../log.ts";
import { redact } from "../redact.ts";
import { openScope, withCallScope } from "../call_scope.ts";
import { callDone } from "../metrics/csi_calls.ts";

const log = logger("grpc");

/** A CSI service written as plain async methods, one per RPC. */
export type AsyncService = Record<string, (req: never) => Promise<unknown>>;

const SECRETISH = /(secret|password|passwd|token|access-key|credential)/i;

/**
 * Copies a request for the debug log with every `secrets` map masked, and any mount flag
 * or parameter whose name looks secret-bearing (they are refused later, but logged first).
 */
export function stripSecrets(value: unknown, key = ""): unknown {
  if (key === "secrets" && value && typeof value === "object") return "***";
  if (typeof value === "string" && SECRETISH.test(value) && /mount_flags|mountOptions/.test(key)) {
    return "***";
  }
  if (Array.isArray(value)) return value.map((v) => stripSecrets(v, key));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripSecrets(v, k)]));
  }
  return value;
}

/** The caller's deadline as epoch milliseconds (Infinity when none). */
export function deadlineOf(call: { getDeadline?: () => grpc.Deadline }): number {
  const d = call.getDeadline?.() ?? Infinity;
  return d instanceof Date ? d.getTime() : d;
}

/**
 * Adapts `async (req) => res` to a grpc-js unary handler and logs one line per call:
 * method, volume id, duration, resulting code. An error without a gRPC code becomes
 * INTERNAL here, once. The handler runs in a call scope (lib/call_scope.ts) that aborts when
 * the caller cancels or its deadline passes, and a call whose caller is already gone is
 * answered without running the handler at all: a flood of short-deadline calls costs nothing.
 */
export function unary<Req, Res>(
  method: string,
  fn: (req: Req) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    const req = call.request as Req & { volume_id?: string; name?: string };
    const volume = req.volume_id || req.name || "-";
    // Lazy: the masked copy of the request is made only when debug lines are written.
    log.debug("{method} request {request}", () => ({ method, request: stripSecrets(req) }));
    const { scope, cancel, dispose } = openScope(method, deadlineOf(call));
    if (call.cancelled) cancel();
    call.on?.("cancelled", cancel);
    // grpc-js emits "cancelled" when the stream closes, answered or not: once the handler is
    // done the scope is too, and aborting it would only build an error nobody reads.
    const done = () => {
      call.removeListener?.("cancelled", cancel);
      dispose();
    };
    // A handler that throws before returning a promise is answered like one that rejects.
    Promise.resolve().then(() => {
      if (scope.signal.aborted) throw scope.signal.reason;
      return withCallScope(scope, () => fn(req));
    }).finally(done).then(
      (res) => {
        const ms = Math.round(performance.now() - started);
        log.info("{method} volume={volume} code=OK {ms}ms", { method, volume, code: "OK", ms });
        callDone({ method, code: "OK", seconds: (performance.now() - started) / 1000, request: req });
        callback(null, res);
      },
      (err: unknown) => {
        const ms = Math.round(performance.now() - started);
        const code = codeOf(err);
        const message = redact(messageOf(err));
        const line = "{method} volume={volume} code={code} {ms}ms: {message}";
        const props = { method, volume, code: codeName(code), ms, message };
        if (codeName(code) === "INTERNAL") log.error(line, props);
        else log.warn(line, props);
        callDone({
          method,
          code: props.code,
          seconds: (performance.now() - started) / 1000,
          request: req,
          message,
        });
        callback({ code, details: message, name: "CodedError", message }, null);
      },
    );
  };
}

/** Builds a grpc-js implementation from an object's methods named after the service's RPCs. */
export function implement(
  definition: grpc.ServiceDefinition,
  service: object,
): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(definition)) {
    const fn = (service as Record<string, unknown>)[name];
    if (typeof fn !== "function" || def.requestStream || def.responseStream) continue;
    impl[name] = unary(name, (req: unknown) => (fn as (r: unknown) => Promise<unknown>).call(service, req));
  }
  return impl;
}

/**
 * What every CSI call reports when it ends (lib/csi/unary.ts calls `callDone` once per call):
 * a counter by method and gRPC code and a latency histogram per method, and the listeners
 * that want more (the node's failure counters and Events, the controller's volume counters).
 */
import { client, registry } from "./registry.ts";

export interface CallDone {
  method: string;
  /** The gRPC code's name: "OK", "NOT_FOUND", ... */
  code: string;
  seconds: number;
  request: unknown;
  /** The error's (already redacted) message when the call failed. */
  message?: string;
}

const calls = new client.Counter({
  name: "csi_jfs_csi_calls_total",
  help: "CSI calls answered, by method and gRPC code",
  labelNames: ["method", "code"] as const,
  registers: [registry],
});

const latency = new client.Histogram({
  name: "csi_jfs_csi_call_duration_seconds",
  help: "Time to answer a CSI call, by method",
  labelNames: ["method"] as const,
  // Publishes take milliseconds, a first stage of a Mount Pod up to the mount timeout.
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

type Listener = (call: CallDone) => void;
const listeners = new Set<Listener>();

/** Adds a listener for finished calls; returns its removal. A listener must not throw. */
export function onCallDone(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The one hook of the gRPC adapter: counts the call and tells the listeners. */
export function callDone(call: CallDone): void {
  calls.inc({ method: call.method, code: call.code });
  latency.observe({ method: call.method }, call.seconds);
  for (const fn of listeners) {
    try {
      fn(call);
    } catch {
      // Metrics and Events are best effort: they never change a call's answer.
    }
  }
}

/**
 * Why a Mount Pod is not serving, in one line a user can act on: the pod's phase, the mount
 * container's state and reason (ImagePullBackOff, CrashLoopBackOff, OOMKilled,
 * CreateContainerConfigError, …), and what juicefs said last in the pod's log. Pure.
 */
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { redact } from "../redact.ts";
import { CONTAINER } from "./pod_spec.ts";
import { isUnreachableMeta } from "../juicefs/start_errors.ts";

/** Waiting reasons that do not go away by waiting: fail the stage now. */
const STUCK = new Set([
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CrashLoopBackOff",
  "CreateContainerError",
  "RunContainerError",
]);

export interface PodDiagnosis {
  /** "Running, container jfs-mount running (restarts 2, last exit OOMKilled)" */
  state: string;
  /** Waiting longer will not help (the stage fails at once with `state`). */
  stuck: boolean;
  /** The container runs (its log says why juicefs does not mount). */
  running: boolean;
}

function containerOf(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === CONTAINER);
}

const clip = (s: string, n = 200): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/**
 * `configErrorIsStuck`: CreateContainerConfigError is expected for a moment (the Secret is
 * written just after the pod); once the Secret exists for a while it means a real problem.
 */
export function diagnosePod(pod: V1Pod | undefined, configErrorIsStuck: boolean): PodDiagnosis {
  if (!pod) return { state: "the Mount Pod does not exist (deleted?)", stuck: false, running: false };
  const phase = pod.status?.phase ?? "Pending";
  const parts = [phase];
  let stuck = phase === "Failed" || phase === "Succeeded";
  if (pod.status?.reason) {
    parts.push(`${pod.status.reason}${pod.status.message ? `: ${clip(pod.status.message)}` : ""}`);
  }
  if (pod.metadata?.deletionTimestamp) parts.push("being deleted");
  const c = containerOf(pod);
  let running = false;
  if (!c) {
    const cond = pod.status?.conditions?.find((x) => x.status === "False" && x.reason);
    parts.push(
      cond
        ? `${cond.type} false: ${cond.reason}${cond.message ? ` (${clip(cond.message)})` : ""}`
        : "no container started yet",
    );
  } else {
    const extra: string[] = [];
    if (c.restartCount > 0) extra.push(`restarts ${c.restartCount}`);
    const last = c.lastState?.terminated;
    if (last) extra.push(`last exit ${last.reason ?? `code ${last.exitCode}`}`);
    const tail = extra.length ? ` (${extra.join(", ")})` : "";
    const w = c.state?.waiting, t = c.state?.terminated;
    if (w) {
      const reason = w.reason ?? "waiting";
      parts.push(
        `container ${CONTAINER} waiting: ${reason}${w.message ? `: ${clip(w.message)}` : ""}${tail}`,
      );
      if (STUCK.has(reason) || (reason === "CreateContainerConfigError" && configErrorIsStuck)) stuck = true;
    } else if (t) {
      parts.push(`container ${CONTAINER} terminated: ${t.reason ?? `exit code ${t.exitCode}`}${tail}`);
    } else if (c.state?.running) {
      running = true;
      parts.push(`container ${CONTAINER} running${tail}`);
    }
    if (last?.reason === "OOMKilled") {
      parts.push("the mount container ran out of memory: raise mountMemoryLimit in the StorageClass");
    }
  }
  return { state: redact(parts.join(", ")), stuck, running };
}

/** The supervisor's line for a juicefs process that ended (lib/supervisor/supervisor.ts). */
const CLIENT_EXITED = /juicefs client \d+ exited/;

/** "2026-… [INF] csi-jfs·supervisor: juicefs: ERROR: …" → "juicefs: ERROR: …" (or a JSON line's message). */
function stripLogPrefix(line: string): string {
  if (line.startsWith("{")) {
    try {
      return String((JSON.parse(line) as { message?: unknown }).message ?? line);
    } catch { /* not JSON after all */ }
  }
  const m = /^(?:\S+ ){1,3}\[[A-Z]{3}\] [^:]+: (.*)$/.exec(line);
  return m?.[1] ?? line;
}

export interface LogSummary {
  /** How many times juicefs exited in these lines (a client that cannot mount). */
  clientExits: number;
  /** juicefs says it cannot reach or log in to its metadata engine: waiting will not help. */
  unreachableMeta: boolean;
  /** juicefs's own error lines first (they say what is wrong), newest last, redacted. */
  tail: string;
}

export function summarizeLog(text: string, maxLines = 3): LogSummary {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const own = lines.filter((l) => /juicefs: .*(error|fatal|fail|invalid|unknown|refused|timeout)/i.test(l));
  const any = lines.filter((l) => /error|fatal|fail|warn/i.test(l));
  const picked = [...new Set((own.length ? own : any).map(stripLogPrefix))].slice(-maxLines).map((l) =>
    clip(l, 300)
  );
  return {
    clientExits: lines.filter((l) => CLIENT_EXITED.test(l)).length,
    unreachableMeta: lines.some(isUnreachableMeta),
    tail: redact(picked.join(" | ")),
  };
}

/**
 * Why a Mount Pod is not serving, in one line a user can act on: the pod's phase, the mount
 * container's state and reason (ImagePullBackOff, CrashLoopBackOff, OOMKilled,
 * CreateContainerConfigError, …), and what juicefs said last in the pod's log. Pure.
 */
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { redact } from "../redact.ts";
import { CONTAINER } from "./pod_spec.ts";

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

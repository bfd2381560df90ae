import type { Kube, ObjectRef } from "./kube.ts";
import { redact } from "../redact.ts";
import { logger } from "../log.ts";

const log = logger("events");

/** Kubernetes caps an Event's message at 1 KiB in practice (kubectl shows one line). */
const MAX_MESSAGE = 1024;

export interface EventRecorderOptions {
  /** Who reports ("csi-jfs-node"), and where (the node). */
  component: string;
  host: string;
  /** One Event per object and reason at most this often; repeats in between are dropped. */
  minIntervalMs?: number;
  now?: () => number;
  /** Objects remembered for the rate limit; the oldest are forgotten first. */
  maxTracked?: number;
}

/**
 * Records Events on objects (the app pod, the Mount Pod), rate-limited per object and reason so
 * that a stage retried every few seconds by kubelet does not flood the API. Messages are
 * redacted and cut to one line. Recording never fails its caller: an Event is best effort.
 */
export class EventRecorder {
  private last = new Map<string, number>();
  private seq = 0;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly maxTracked: number;

  constructor(private kube: Kube, private opts: EventRecorderOptions) {
    this.minIntervalMs = opts.minIntervalMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.maxTracked = opts.maxTracked ?? 4096;
  }

  /** Whether the Event was sent (false: rate-limited or the API refused it). */
  async record(
    ref: ObjectRef,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<boolean> {
    const id = `${ref.namespace}/${ref.kind}/${ref.name}/${ref.uid ?? ""}/${reason}`;
    const now = this.now();
    const prev = this.last.get(id);
    if (prev !== undefined && now - prev < this.minIntervalMs) return false;
    this.last.delete(id);
    this.last.set(id, now);
    for (const oldest of this.last.keys()) {
      if (this.last.size <= this.maxTracked) break;
      this.last.delete(oldest);
    }
    const text = redact(message.replace(/\s*\n\s*/g, " | ")).slice(0, MAX_MESSAGE);
    const at = new Date(now);
    try {
      await this.kube.createEvent(ref.namespace, {
        metadata: {
          name: `${ref.name}.${now.toString(16)}${(++this.seq).toString(16)}`.slice(0, 253),
          namespace: ref.namespace,
        },
        involvedObject: {
          kind: ref.kind,
          apiVersion: ref.apiVersion ?? "v1",
          namespace: ref.namespace,
          name: ref.name,
          ...(ref.uid ? { uid: ref.uid } : {}),
        },
        type,
        reason,
        message: text,
        count: 1,
        firstTimestamp: at,
        lastTimestamp: at,
        source: { component: this.opts.component, host: this.opts.host },
        reportingComponent: this.opts.component,
        reportingInstance: this.opts.host,
      });
      return true;
    } catch (e) {
      log.warn("event {reason} on {kind} {ns}/{name} not recorded: {error}", {
        reason,
        kind: ref.kind,
        ns: ref.namespace,
        name: ref.name,
        error: String(e),
      });
      return false;
    }
  }
}

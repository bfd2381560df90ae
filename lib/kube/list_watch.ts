import type { PodEvent, V1Pod, WatchEventType, Watching } from "./kube.ts";

/** A list of pods and the resourceVersion to watch from. */
export interface PodList {
  items: V1Pod[];
  resourceVersion: string;
}

export interface ListWatchSource {
  list(): Promise<PodList>;
  /**
   * Streams changes after `resourceVersion` to `onEvent` until stopped or the stream ends;
   * `onDone` is called once when it ends by itself (error or server timeout).
   */
  watch(
    resourceVersion: string,
    onEvent: (type: WatchEventType, pod: V1Pod) => void,
    onDone: (err?: unknown) => void,
  ): Promise<() => void>;
}

export interface ListWatchOptions {
  resyncMs: number;
  /** Pause before listing again after a failure. */
  retryMs?: number;
  onError?: (e: unknown) => void;
  /** Timers, injectable for tests. */
  setTimer?: (fn: () => void, ms: number) => Timer;
  clearTimer?: (id: Timer) => void;
}

type Timer = ReturnType<typeof setTimeout>;

const uidOf = (p: V1Pod): string => p.metadata?.uid ?? `${p.metadata?.namespace}/${p.metadata?.name}`;

/**
 * List, then watch from the list's version; on any end of the stream, list again (reporting
 * what changed meanwhile, deletions included) and watch anew. Every `resyncMs` it lists again
 * even when the stream looks fine, so a silently stalled watch cannot hide a deleted pod.
 * The consumer sees one ordered stream of ADDED/MODIFIED/DELETED per pod uid.
 */
export class ListWatchLoop implements Watching {
  private known = new Map<string, V1Pod>();
  private stopped = false;
  private stopStream: (() => void) | undefined;
  private timer: Timer | undefined;
  private generation = 0;
  private readonly setTimer: (fn: () => void, ms: number) => Timer;
  private readonly clearTimer: (id: Timer) => void;

  constructor(
    private source: ListWatchSource,
    private onEvent: (e: PodEvent) => void,
    private opts: ListWatchOptions,
  ) {
    this.setTimer = opts.setTimer ?? ((fn, ms) => {
      const t = setTimeout(fn, ms);
      Deno.unrefTimer(t as unknown as number);
      return t;
    });
    this.clearTimer = opts.clearTimer ?? ((id) => clearTimeout(id));
  }

  start(): this {
    void this.cycle();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.stopStream?.();
    this.stopStream = undefined;
    if (this.timer !== undefined) this.clearTimer(this.timer);
  }

  private emit(type: WatchEventType, pod: V1Pod): void {
    const uid = uidOf(pod);
    if (type === "DELETED") {
      if (!this.known.delete(uid)) return;
    } else {
      const had = this.known.has(uid);
      this.known.set(uid, pod);
      if (!had) type = "ADDED";
    }
    try {
      this.onEvent({ type, pod });
    } catch (e) {
      this.opts.onError?.(e);
    }
  }

  /** One list + watch; the next cycle starts on the stream's end or the resync timer. */
  private async cycle(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    this.stopStream?.();
    this.stopStream = undefined;
    if (this.timer !== undefined) this.clearTimer(this.timer);
    let list: PodList;
    try {
      list = await this.source.list();
    } catch (e) {
      this.opts.onError?.(e);
      this.schedule(gen, this.opts.retryMs ?? 2000);
      return;
    }
    if (this.stopped || gen !== this.generation) return;
    const present = new Set(list.items.map(uidOf));
    for (const [uid, pod] of [...this.known]) if (!present.has(uid)) this.emit("DELETED", pod);
    for (const pod of list.items) this.emit("MODIFIED", pod);
    try {
      const stop = await this.source.watch(
        list.resourceVersion,
        (type, pod) => {
          if (gen === this.generation && !this.stopped) this.emit(type, pod);
        },
        (err) => {
          if (gen !== this.generation || this.stopped) return;
          if (err) this.opts.onError?.(err);
          this.schedule(gen, err ? this.opts.retryMs ?? 2000 : 0);
        },
      );
      if (this.stopped || gen !== this.generation) stop();
      else this.stopStream = stop;
    } catch (e) {
      this.opts.onError?.(e);
      this.schedule(gen, this.opts.retryMs ?? 2000);
      return;
    }
    this.schedule(gen, this.opts.resyncMs);
  }

  private schedule(gen: number, ms: number): void {
    if (this.stopped || gen !== this.generation) return;
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = this.setTimer(() => {
      this.timer = undefined;
      void this.cycle();
    }, ms);
  }
}

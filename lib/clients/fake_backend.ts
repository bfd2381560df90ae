import { join } from "node:path";
import { clientKey, type ClientMount, type ClientSpec, type MountBackend } from "./backend.ts";
import { mountAt } from "../mount/mounter.ts";
import type { FakeMounter } from "../mount/fake_mounter.ts";

export interface FakeBackendOptions {
  /** A real (temporary) directory the clients' file systems "live" in. */
  root: string;
  /**
   * One directory per client key under `root` (node tests: clients differ by mount flags),
   * or `root` itself for every key (controller tests: the file system is the temp dir).
   */
  perKey?: boolean;
  /** When given, a started client adds its fuse.juicefs mount here and a release removes it. */
  mounter?: FakeMounter;
}

/**
 * A MountBackend for unit tests: no processes, no pods. "Mounting" makes the client's
 * directory on disk (so services can mkdir, write records and rename inside it) and,
 * with a FakeMounter, adds a JuiceFS entry to the fake mount table. Records every call.
 */
export class FakeBackend implements MountBackend {
  /** The key of every ensure() call, in order (warm and cold). */
  readonly ensured: string[] = [];
  /** Keys of clients started afresh (not already running). */
  readonly started: string[] = [];
  readonly released: string[] = [];
  readonly specs = new Map<string, ClientSpec>();
  /** An error for the next ensure() to throw. */
  failNext: Error | undefined;
  private live = new Map<string, ClientMount>();
  private gate: Promise<void> | undefined;

  constructor(private opts: FakeBackendOptions) {}

  mountPathOf(key: string): string {
    return this.opts.perKey ? join(this.opts.root, key) : this.opts.root;
  }

  /** Makes ensure() calls wait until the returned function is called (to hold a call in flight). */
  hold(): () => void {
    let open!: () => void;
    this.gate = new Promise<void>((r) => (open = r));
    return () => {
      this.gate = undefined;
      open();
    };
  }

  async ensure(spec: ClientSpec): Promise<ClientMount> {
    const key = clientKey(spec);
    this.ensured.push(key);
    if (this.gate) await this.gate;
    const err = this.failNext;
    if (err) {
      this.failNext = undefined;
      throw err;
    }
    const running = this.live.get(key);
    if (running) return { ...running };
    const mount = { key, mountPath: this.mountPathOf(key) };
    await Deno.mkdir(mount.mountPath, { recursive: true });
    const m = this.opts.mounter;
    if (m && !(await mountAt(m, mount.mountPath))) m.addMount(mount.mountPath);
    this.live.set(key, mount);
    this.specs.set(key, spec);
    this.started.push(key);
    return { ...mount };
  }

  async release(key: string): Promise<void> {
    this.released.push(key);
    const mount = this.live.get(key);
    this.live.delete(key);
    const m = this.opts.mounter;
    if (mount && m && (await mountAt(m, mount.mountPath))) await m.unmount(mount.mountPath);
  }

  list(): Promise<ClientMount[]> {
    return Promise.resolve([...this.live.values()].map((c) => ({ ...c })));
  }
}

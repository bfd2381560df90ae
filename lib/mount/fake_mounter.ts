import type { MountEntry } from "./mountinfo.ts";
import type { BindOptions, Mounter, PathHealth } from "./mounter.ts";
import { openAbsolute, type PathFd } from "../fs/beneath.ts";
import { failedPrecondition } from "../errors.ts";

/**
 * An in-memory mount table for unit tests: records actions, takes injected errors and health.
 * The fd-taking calls act on the paths the fds were opened by (the tests open real temp dirs).
 */
export class FakeMounter implements Mounter {
  entries: MountEntry[] = [];
  actions: string[] = [];
  failNext = new Map<string, Error>();
  healthOf = new Map<string, PathHealth>();
  private nextId = 100;

  /** Adds a file-system mount (as a JuiceFS client would create). */
  addMount(mountPoint: string, fsType = "fuse.juicefs", device = `0:${this.nextId}`): MountEntry {
    const e: MountEntry = {
      id: this.nextId++,
      parentId: 1,
      device,
      root: "/",
      mountPoint,
      options: ["rw"],
      fsType,
      source: "JuiceFS:fake",
      superOptions: ["rw"],
    };
    this.entries.push(e);
    return e;
  }

  list(): Promise<MountEntry[]> {
    return Promise.resolve(this.entries.map((e) => ({ ...e })));
  }

  private takeFailure(op: string): void {
    const err = this.failNext.get(op);
    if (err) {
      this.failNext.delete(op);
      throw err;
    }
  }

  async bindFd(source: PathFd, target: PathFd, opts: BindOptions = {}): Promise<MountEntry> {
    await this.bind(source.path, target.path, opts);
    return { ...this.entries[this.entries.length - 1]! };
  }

  /** Opens the real (temp) directory; the fake table decides whether it is the mount checked. */
  async openMount(path: string, expected: MountEntry, field: string): Promise<PathFd> {
    const top = this.entries.findLast((e) => e.mountPoint === path);
    if (top?.id !== expected.id) {
      throw failedPrecondition(`${field} ${path} no longer reaches mount ${expected.id}`);
    }
    return await openAbsolute(path, { field });
  }

  /** Like the real one: only the entry on top at the path, if it is the one checked. */
  unmountChecked(path: string, expected: MountEntry, opts: { lazy?: boolean } = {}): Promise<void> {
    const top = this.entries.findLast((e) => e.mountPoint === path);
    if (top?.id !== expected.id) {
      return Promise.reject(failedPrecondition(`${path} no longer reaches mount ${expected.id}`));
    }
    return this.unmount(path, opts);
  }

  bind(source: string, target: string, opts: BindOptions = {}): Promise<void> {
    this.actions.push(`bind ${source} ${target}${opts.readOnly ? " ro" : ""}`);
    this.takeFailure("bind");
    const parent = this.entries
      .filter((e) => source === e.mountPoint || source.startsWith(e.mountPoint.replace(/\/$/, "") + "/"))
      .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
    const rel = parent ? source.slice(parent.mountPoint.length) : source;
    const root = parent ? (parent.root === "/" ? "" : parent.root) + (rel || "") || "/" : source;
    this.entries.push({
      id: this.nextId++,
      parentId: 1,
      device: parent?.device ?? "0:1",
      root,
      mountPoint: target,
      options: [opts.readOnly ? "ro" : "rw"],
      fsType: parent?.fsType ?? "none",
      source: parent?.source ?? source,
      superOptions: ["rw"],
    });
    return Promise.resolve();
  }

  unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    this.actions.push(`umount${opts.lazy ? " -l" : ""} ${target}`);
    this.takeFailure("unmount");
    const idx = this.entries.findLastIndex((e) => e.mountPoint === target);
    if (idx < 0) return Promise.reject(new Error(`umount: ${target}: not mounted`));
    this.entries.splice(idx, 1);
    this.healthOf.delete(target);
    return Promise.resolve();
  }

  health(path: string): Promise<PathHealth> {
    return Promise.resolve(this.healthOf.get(path) ?? "ok");
  }
}

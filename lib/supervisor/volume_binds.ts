import { join } from "node:path";
import type { Mounter } from "../mount/mounter.ts";
import { mountAt } from "../mount/mounter.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import { subdirProblem } from "../juicefs/subdir.ts";
import { logger } from "../log.ts";

const log = logger("supervisor", "binds");

/** One volume of an injected sidecar: its directory in the file system, bound at the pod's emptyDir. */
export interface VolumeBind {
  subdir: string;
  target: string;
  readOnly: boolean;
}

export const BINDS_ENV = "CSI_JFS_VOLUME_BINDS";

/** Reads the sidecar's binds (not secret: the webhook puts them in the pod spec). */
export function parseBinds(text: string | undefined): VolumeBind[] {
  if (!text) return [];
  const raw = JSON.parse(text) as unknown;
  if (!Array.isArray(raw)) throw new Error(`${BINDS_ENV} is not a JSON list`);
  return raw.map((b, i) => {
    const { subdir, target, readOnly } = (b ?? {}) as Record<string, unknown>;
    if (typeof subdir !== "string" || (subdir !== "" && subdirProblem(subdir))) {
      throw new Error(`${BINDS_ENV}[${i}].subdir is not a volume directory`);
    }
    if (typeof target !== "string" || !/^\/[A-Za-z0-9._/-]+$/.test(target) || target.includes("..")) {
      throw new Error(`${BINDS_ENV}[${i}].target is not an absolute path`);
    }
    return { subdir, target, readOnly: readOnly === true };
  });
}

export interface BinderDeps {
  mounter: Mounter;
  exists(path: string): Promise<boolean>;
}

/**
 * In an injected sidecar the client mounts the whole file system at a private path; each pod
 * volume is a bind of its subdirectory onto the emptyDir the app containers share (mounted
 * Bidirectional here, so the bind reaches them). A bind of a previous, dead mount is replaced.
 * The sidecar's startup probe passes once every bind is live.
 */
export class VolumeBinder {
  private reported = new Set<string>();

  constructor(private mountPoint: string, private binds: VolumeBind[], private deps: BinderDeps) {}

  /** Makes every bind that is missing or stale; true once all are live. */
  async ensure(): Promise<boolean> {
    const { mounter } = this.deps;
    const fs = await mountAt(mounter, this.mountPoint);
    if (!fs || !isJuiceFs(fs)) return false;
    let all = true;
    for (const b of this.binds) {
      const root = b.subdir ? `/${b.subdir}` : "/";
      const current = await mountAt(mounter, b.target);
      if (current && current.device === fs.device && current.root === root) continue;
      // Only a JuiceFS bind is ours to replace: the emptyDir kubelet mounted here (Bidirectional)
      // is what carries our bind to the app containers, so we bind on top of it.
      if (current && isJuiceFs(current)) {
        log.warn("{target} holds a bind of an earlier mount: replacing it", { target: b.target });
        await mounter.unmount(b.target, { lazy: true }).catch(() => {});
      }
      const source = b.subdir ? join(this.mountPoint, b.subdir) : this.mountPoint;
      if (!(await this.deps.exists(source))) {
        if (!this.reported.has(source)) {
          log.error("volume directory /{subdir} does not exist in the file system", { subdir: b.subdir });
          this.reported.add(source);
        }
        all = false;
        continue;
      }
      try {
        await mounter.bind(source, b.target, { readOnly: b.readOnly });
        log.info("bound /{subdir} at {target}{ro}", {
          subdir: b.subdir,
          target: b.target,
          ro: b.readOnly ? " read-only" : "",
        });
      } catch (e) {
        log.warn("bind /{subdir} at {target}: {error}", {
          subdir: b.subdir,
          target: b.target,
          error: String(e),
        });
        all = false;
      }
    }
    return all;
  }

  /** Unmounts the binds (before the client's own unmount, which they would keep busy). */
  async release(): Promise<void> {
    for (const b of this.binds) {
      for (let i = 0; i < 3 && (await mountAt(this.deps.mounter, b.target)); i++) {
        await this.deps.mounter.unmount(b.target, { lazy: i > 0 }).catch((e) =>
          log.warn("umount {target}: {error}", { target: b.target, error: String(e) })
        );
      }
    }
  }
}

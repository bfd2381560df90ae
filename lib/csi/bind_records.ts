import { createHash } from "node:crypto";
import { join } from "node:path";
import { logger } from "../log.ts";

const log = logger("node");

/** A bind the node made and verified: which volume it is, and the mount's id while it lasts. */
export interface BindRecord {
  mountPoint: string;
  volumeId: string;
  mountId: number;
}

/**
 * The node's verified binds by mount point, kept in memory and, with a directory, in one small
 * file each (0600, in the node's own state directory, never on a FUSE path), so a restarted
 * plugin still knows them. A tenant can rename a bound volume directory, which changes the root
 * the mount table shows; the record is what still says the mount is that volume's.
 * A record counts only while its mount id is the one at its mount point (ids are not reused
 * while a mount exists).
 */
export class BindRecords {
  private byPath = new Map<string, BindRecord>();

  constructor(private dir?: string) {
    if (!dir) return;
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.isFile || !e.name.endsWith(".json")) continue;
        try {
          const r = JSON.parse(Deno.readTextFileSync(join(dir, e.name))) as BindRecord;
          if (
            typeof r.mountPoint === "string" && typeof r.volumeId === "string" && Number.isInteger(r.mountId)
          ) {
            this.byPath.set(r.mountPoint, r);
          }
        } catch { /* a torn write: as if never recorded */ }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) log.warn("cannot read bind records: {e}", { e: String(e) });
    }
  }

  get(mountPoint: string): BindRecord | undefined {
    return this.byPath.get(mountPoint);
  }

  private file(mountPoint: string): string {
    return join(this.dir!, `${createHash("sha256").update(mountPoint).digest("hex").slice(0, 32)}.json`);
  }

  async set(r: BindRecord): Promise<void> {
    this.byPath.set(r.mountPoint, r);
    if (!this.dir) return;
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(r.mountPoint)}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(r), { mode: 0o600 });
    await Deno.rename(tmp, this.file(r.mountPoint));
  }

  async delete(mountPoint: string): Promise<void> {
    if (!this.byPath.delete(mountPoint) || !this.dir) return;
    await Deno.remove(this.file(mountPoint)).catch(() => {});
  }
}

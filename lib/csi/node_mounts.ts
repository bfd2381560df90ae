/**
 * The node's binds, made and taken off only where they provably belong to the volume asked
 * for (issue 11 items 1, 6, 7):
 * - `bindVolume` opens the volume directory beneath the client's mount root and the mount
 *   point without following links (lib/fs/beneath.ts), binds fd to fd, then checks in the
 *   mount table that the new mount shows the expected device and root; otherwise it is
 *   detached again and the call fails FAILED_PRECONDITION.
 * - `checkOwned` admits a mount for unstage/unpublish only if it comes from one of this
 *   node's clients (or is a dead JuiceFS mount, which serves nothing) and shows the volume's
 *   directory: anything else (the controller's admin mount, a foreign file system, another
 *   volume's bind) is FAILED_PRECONDITION and stays.
 * Binds the node verified are remembered (lib/csi/bind_records.ts): a tenant may rename a
 * bound directory, which changes the root the mount table shows, and the volume must still
 * come off, after a restart of the plugin too.
 */
import { failedPrecondition } from "../errors.ts";
import { openAbsolute, openBeneath, type PathFd, withPathFd } from "../fs/beneath.ts";
import type { ClientMount } from "../clients/backend.ts";
import type { Mounter } from "../mount/mounter.ts";
import { isJuiceFs, type MountEntry, type MountTable } from "../mount/mountinfo.ts";
import { decodeVolumeId } from "../volume_id.ts";
import { echo } from "./node_paths.ts";
import { logger } from "../log.ts";
import { BindRecords } from "./bind_records.ts";

const log = logger("node");

/** A directory the driver creates for a mount point (kubelet usually made it already). */
const MOUNT_DIR_MODE = 0o750;

export const rootOf = (subdir: string): string => (subdir ? `/${subdir}` : "/");

/** The node's clients as the mount table shows them. */
export interface ClientTable {
  /** Mount points of the clients themselves (never a volume's bind). */
  points: Set<string>;
  /** Device of each client's mount -> the client. */
  byDevice: Map<string, ClientMount>;
}

export function clientTable(table: MountTable, clients: ClientMount[]): ClientTable {
  const byDevice = new Map<string, ClientMount>();
  for (const c of clients) {
    const e = table.at(c.mountPath);
    if (e && isJuiceFs(e)) byDevice.set(e.device, c);
  }
  return { points: new Set(clients.map((c) => c.mountPath)), byDevice };
}

export class NodeMounts {
  private bound: BindRecords;

  /** `recordsDir`: where verified binds are remembered across restarts (none: in memory only). */
  constructor(private mounter: Mounter, recordsDir?: string) {
    this.bound = new BindRecords(recordsDir);
  }

  /**
   * Binds `sourceRel` beneath `sourceRoot` (or the directory `sourceRoot` itself) onto
   * `mountPoint`, and checks that the mount table shows `want` (device and root) there.
   */
  async bindVolume(p: {
    volumeId: string;
    source: () => Promise<PathFd>;
    mountPoint: string;
    field: string;
    want: { device: string; root: string };
    /** How the source is named when the check fails ("volume directory /x of "fs""). */
    what: string;
    readOnly?: boolean;
  }): Promise<MountEntry> {
    const entry = await withPathFd(p.source(), (src) =>
      withPathFd(
        openAbsolute(p.mountPoint, { field: p.field, create: { mode: MOUNT_DIR_MODE }, withStat: true }),
        (dst) => this.mounter.bindFd(src, dst, p.readOnly ? { readOnly: true } : {}),
      ));
    if (entry.device !== p.want.device || entry.root !== p.want.root) {
      // A rename or exchange raced the bind: whatever got bound is not the volume. Take it off.
      log.warn("{path}: bound {got} instead of {want}; detaching it", {
        path: p.mountPoint,
        got: `${entry.device}${entry.root}`,
        want: `${p.want.device}${p.want.root}`,
      });
      await this.mounter.unmountChecked(p.mountPoint, entry, { lazy: true });
      throw failedPrecondition(
        `${p.what} changed while it was being mounted at ${echo(p.mountPoint)} ` +
          `(a link or rename raced the bind; ${entry.root} got bound): nothing was mounted, retry`,
      );
    }
    await this.bound.set({ mountPoint: p.mountPoint, volumeId: p.volumeId, mountId: entry.id });
    return entry;
  }

  /** Opens `subdir` beneath the client's mount root without links or leaving its mount. */
  openVolumeDir(clientPath: string, subdir: string, what: string): Promise<PathFd> {
    return withPathFd(
      openAbsolute(clientPath, { field: "client mount" }),
      (root) => openBeneath(root, subdir, { name: what, sameMount: true }),
    );
  }

  /** The volume this process bound `entry` at `mountPoint` for, if it did. */
  boundTo(mountPoint: string, entry: MountEntry): string | undefined {
    const rec = this.bound.get(mountPoint);
    return rec && rec.mountId === entry.id ? rec.volumeId : undefined;
  }

  /** Forgets a mount point once nothing of ours is mounted there. */
  async forget(mountPoint: string): Promise<void> {
    await this.bound.delete(mountPoint);
  }

  /**
   * Throws unless `entry` (at `path`) is a bind of volume `volumeId` (subdir `subdir` when
   * known) from one of the node's clients. `broken`: its client is gone (ENOTCONN).
   */
  checkOwned(p: {
    entry: MountEntry;
    path: string;
    field: string;
    volumeId: string;
    subdir: string | undefined;
    clients: ClientTable;
    broken: boolean;
  }): void {
    const { entry, path, field } = p;
    const where = `${field} ${echo(path)}`;
    if (p.clients.points.has(path)) throw failedPrecondition(`${where} is a shared client's own mount point`);
    if (!isJuiceFs(entry)) {
      throw failedPrecondition(`${where} holds a ${entry.fsType} mount that is not a JuiceFS volume`);
    }
    if (!p.clients.byDevice.has(entry.device) && !p.broken) {
      throw failedPrecondition(
        `${where} holds a JuiceFS mount (${echo(entry.source)}) that none of this node's clients serves ` +
          `(another client's or the controller's): not a volume of this node; nothing changed`,
      );
    }
    const rec = this.bound.get(path);
    if (rec && rec.mountId === entry.id) {
      if (rec.volumeId === p.volumeId) return;
      throw failedPrecondition(
        `${where} holds volume ${echo(rec.volumeId)}, not ${echo(p.volumeId)}; nothing changed`,
      );
    }
    if (p.subdir !== undefined && entry.root !== rootOf(p.subdir)) {
      throw failedPrecondition(
        `${where} holds directory ${echo(entry.root)} of the file system, not volume ${echo(p.volumeId)} ` +
          `(${rootOf(p.subdir)}); nothing changed`,
      );
    }
  }
}

/** The volume's directory when the id alone tells it (our ids); a static PV's needs its context. */
export function subdirFromId(volumeId: string): string | undefined {
  return decodeVolumeId(volumeId)?.subdir;
}

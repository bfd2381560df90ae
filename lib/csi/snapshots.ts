/**
 * CreateSnapshot, DeleteSnapshot, ListSnapshots (issue 10 item 2). A snapshot is a clone of
 * the source volume's directory (metadata only: lib/juicefs/clone.ts) kept in the driver's
 * private `/.csi-jfs/snapshots/` (lib/juicefs/snapshot_records.ts). Nothing but the driver can
 * reach it: no volume id or pathPattern names anything under `/.csi-jfs`, the directory is the
 * driver's 0700, and every step goes through fds opened without following links. So it stays
 * as taken (read-only in effect) without changing a mode bit of the tree, which a restore must
 * get back exactly. (JuiceFS's immutable flag is not used: clone copies it into every restore.)
 */
import type { CreateSnapshotRequest__Output } from "./generated/csi/v1/CreateSnapshotRequest.ts";
import type { CreateSnapshotResponse } from "./generated/csi/v1/CreateSnapshotResponse.ts";
import type { DeleteSnapshotRequest__Output } from "./generated/csi/v1/DeleteSnapshotRequest.ts";
import type { ListSnapshotsRequest__Output } from "./generated/csi/v1/ListSnapshotsRequest.ts";
import type { ListSnapshotsResponse } from "./generated/csi/v1/ListSnapshotsResponse.ts";
import type { Snapshot } from "./generated/csi/v1/Snapshot.ts";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import type { PathFd } from "../fs/beneath.ts";
import { openBeneath } from "../fs/beneath.ts";
import { statEntry } from "../fs/entries.ts";
import type { AdminMounts } from "../clients/admin_mounts.ts";
import type { JuiceFsCli } from "../juicefs/cli.ts";
import type { Cloner } from "../juicefs/clone.ts";
import { cloneInto } from "../juicefs/clone_dirs.ts";
import type { FsSettings } from "../juicefs/settings.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { openMetaDir, readRecord } from "../juicefs/volume_records.ts";
import { moveVolumeDir, openVolumeDir } from "../juicefs/volume_dirs.ts";
import {
  checkSnapshotName,
  listSnapshotRecords,
  readSnapshotRecord,
  removeSnapshotRecord,
  snapshotKey,
  type SnapshotRecord,
  treeName,
  writeSnapshotRecord,
} from "../juicefs/snapshot_records.ts";
import { decodeSnapshotId, decodeVolumeId, encodeSnapshotId, sameVolume } from "../volume_id.ts";
import type { KeyedLocks } from "../locks.ts";
import {
  echoId,
  type KnownFileSystems,
  paginate,
  removeInFor,
  settingsFor,
  using,
  withFsRoot,
} from "./controller_support.ts";
import { logger } from "../log.ts";

const log = logger("snapshots");

export interface SnapshotDeps {
  admin: AdminMounts;
  cli: JuiceFsCli;
  locks: KeyedLocks;
  cloner: Cloner;
  known: KnownFileSystems;
  now: () => Date;
}

export const snapshotLockKey = (fs: string, name: string) => `snapshot:${fs}/${name}`;

export function snapshotOf(fsName: string, rec: SnapshotRecord): Snapshot {
  const ms = Date.parse(rec.createdAt);
  return {
    snapshot_id: encodeSnapshotId({ fsName, name: rec.name }),
    source_volume_id: rec.sourceVolumeId,
    size_bytes: rec.sizeBytes,
    creation_time: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 },
    ready_to_use: rec.state === "ready",
  };
}

/**
 * Opens the tree of a ready snapshot (for a restore); NOT_FOUND when there is none. The tree
 * must be the directory recorded, reached without a link.
 */
export async function openSnapshotTree(root: PathFd, name: string): Promise<
  { rec: SnapshotRecord; tree: PathFd } | undefined
> {
  return await using(await openMetaDir(root, "snapshots", false), async (snaps) => {
    if (!snaps) return undefined;
    const rec = await readSnapshotRecord(snaps, name);
    if (!rec || rec.state !== "ready" || !rec.ino) return undefined;
    const tree = await openBeneath(snaps, treeName(snapshotKey(name)!), {
      name: `the tree of snapshot "${name}"`,
      sameMount: true,
    });
    if ((await tree.stat()).ino !== rec.ino) {
      tree.close();
      throw failedPrecondition(`the tree of snapshot "${name}" is not the one recorded; refusing it`);
    }
    return { rec, tree };
  });
}

/** Only the `csi.storage.k8s.io/` keys the snapshotter adds; anything else is a typo. */
function checkParameters(params: Record<string, string>): void {
  const unknown = Object.keys(params ?? {}).filter((k) => !k.startsWith("csi.storage.k8s.io/"));
  if (unknown.length) {
    throw invalidArgument(`unknown VolumeSnapshotClass parameter(s): ${unknown.join(", ")}`);
  }
}

export class SnapshotService {
  constructor(private d: SnapshotDeps) {}

  private mount<T>(s: FsSettings, fn: (root: PathFd | undefined) => Promise<T>): Promise<T> {
    return this.d.admin.withMount(s, { format: false }, async (mount) => {
      const out = mount ? await withFsRoot(mount, fn) : await fn(undefined);
      this.d.known.remember(s);
      return out;
    });
  }

  async CreateSnapshot(req: CreateSnapshotRequest__Output): Promise<CreateSnapshotResponse> {
    const name = req.name;
    checkSnapshotName(name);
    if (!req.source_volume_id) throw invalidArgument("source_volume_id is required");
    checkParameters(req.parameters);
    const ref = decodeVolumeId(req.source_volume_id);
    if (!ref) throw notFound(`source volume "${req.source_volume_id.slice(0, 128)}" does not exist`);
    const settings = settingsFor(ref, req.secrets, "source volume");
    const missing = () => notFound(`source volume "${echoId(req.source_volume_id)}" does not exist`);
    return await this.d.locks.withLock(
      snapshotLockKey(ref.fsName, name),
      `snapshot "${name}"`,
      () =>
        this.d.locks.withLock(
          `${ref.fsName}/${ref.subdir}`,
          `volume directory /${ref.subdir}`,
          () =>
            this.mount(settings, async (root) => {
              if (!root) {
                throw missing();
              }
              const snaps = await openMetaDir(root, "snapshots", true);
              if (!snaps) throw new Error("unreachable: a created metadata directory is missing");
              try {
                const existing = await readSnapshotRecord(snaps, name);
                if (existing && !sameVolume(existing.sourceVolumeId, req.source_volume_id)) {
                  throw alreadyExists(
                    `snapshot "${name}" already exists for another source volume (${existing.sourceVolumeId})`,
                  );
                }
                if (existing?.state === "ready") return { snapshot: snapshotOf(ref.fsName, existing) };
                const src = await using(await openMetaDir(root, "volumes", false), async (volumes) => {
                  const r = volumes && await readRecord(volumes, ref.subdir);
                  if (!r) throw missing();
                  if (r.state === "creating") {
                    throw failedPrecondition(
                      `source volume "${echoId(req.source_volume_id)}" is still being created`,
                    );
                  }
                  return r;
                });
                const v = await openVolumeDir(root, src);
                if (!v) {
                  throw missing();
                }
                try {
                  const rec: SnapshotRecord = existing ?? {
                    name,
                    sourceVolumeId: req.source_volume_id,
                    sourceSubdir: ref.subdir,
                    sizeBytes: src.capacityBytes,
                    createdAt: this.d.now().toISOString(),
                    state: "creating",
                  };
                  const key = snapshotKey(name)!;
                  const tree = await statEntry(snaps, treeName(key));
                  if (tree && !(tree.kind === "directory" && rec.ino && tree.ino === rec.ino)) {
                    // Not the tree this record made (the record is written before any tree moves
                    // in): a leftover of this driver's own private area. Cleared, then redone.
                    await removeInFor(this.d.cli, settings)(snaps, treeName(key));
                  }
                  let ino = tree?.ino === rec.ino ? rec.ino : undefined;
                  if (!ino) {
                    await writeSnapshotRecord(snaps, rec);
                    const target = {
                      dir: snaps,
                      name: treeName(key),
                      tmpName: `s-${key}`,
                      what: `snapshot "${name}"`,
                    };
                    const deps = { cloner: this.d.cloner, removeIn: removeInFor(this.d.cli, settings) };
                    try {
                      ino = await cloneInto(
                        root,
                        v.dir,
                        target,
                        deps,
                        (i) => writeSnapshotRecord(snaps, { ...rec, ino: i }),
                      );
                    } catch (e) {
                      // No tree came of it: no record either (a retry writes it again).
                      if (!existing && !(await statEntry(snaps, treeName(key)))) {
                        await removeSnapshotRecord(snaps, name).catch(() => {});
                      }
                      throw e;
                    }
                  }
                  const ready: SnapshotRecord = { ...rec, ino, state: "ready" };
                  await writeSnapshotRecord(snaps, ready);
                  log.info("snapshot {name} of /{subdir} made in {fs}", {
                    name,
                    subdir: ref.subdir,
                    fs: ref.fsName,
                  });
                  return { snapshot: snapshotOf(ref.fsName, ready) };
                } finally {
                  v.close();
                }
              } finally {
                snaps.close();
              }
            }),
        ),
    );
  }

  async DeleteSnapshot(req: DeleteSnapshotRequest__Output): Promise<Record<string, never>> {
    if (!req.snapshot_id) throw invalidArgument("snapshot_id is required");
    const ref = decodeSnapshotId(req.snapshot_id);
    if (!ref) {
      log.info("delete of snapshot {id}: not an id of this driver; nothing to do", { id: req.snapshot_id });
      return {};
    }
    const settings = settingsFor(ref, req.secrets, "snapshot");
    await this.d.locks.withLock(
      snapshotLockKey(ref.fsName, ref.name),
      `snapshot "${ref.name}"`,
      () =>
        this.mount(settings, async (root) => {
          if (!root) return;
          await using(await openMetaDir(root, "snapshots", false), async (snaps) => {
            if (!snaps) return;
            const rec = await readSnapshotRecord(snaps, ref.name);
            if (!rec) return;
            const key = snapshotKey(ref.name)!;
            const trash = await openMetaDir(root, "trash", true);
            if (!trash) throw new Error("unreachable: a created metadata directory is missing");
            try {
              const removeIn = removeInFor(this.d.cli, settings);
              // "." starts no volume's trash name (a subdir segment never does): no collision.
              const trashName = `.snapshot-${key}`;
              await removeIn(trash, trashName);
              const st = await statEntry(snaps, treeName(key));
              if (st) {
                const fake = { name: ref.name, subdir: treeName(key), capacityBytes: "0", createdAt: "" };
                const tree = await openVolumeDir(snaps, st.ino === rec.ino ? { ...fake, ino: st.ino } : fake);
                if (tree) {
                  try {
                    await moveVolumeDir(tree, `.csi-jfs/snapshots/${treeName(key)}`, trash, trashName);
                  } finally {
                    tree.close();
                  }
                }
                await removeIn(trash, trashName);
              }
              await removeSnapshotRecord(snaps, ref.name);
              log.info("snapshot {name} deleted from {fs}", { name: ref.name, fs: ref.fsName });
            } finally {
              trash.close();
            }
          });
        }),
    );
    return {};
  }

  async ListSnapshots(req: ListSnapshotsRequest__Output): Promise<ListSnapshotsResponse> {
    const filesystems = Object.keys(req.secrets ?? {}).length
      ? [settingsFromSecrets(req.secrets)]
      : this.d.known.all();
    const wanted = req.snapshot_id ? decodeSnapshotId(req.snapshot_id) : undefined;
    if (req.snapshot_id && !wanted) return { entries: [], next_token: "" };
    const all: Snapshot[] = [];
    for (const s of filesystems) {
      if (wanted && wanted.fsName !== s.name) continue;
      const recs = await this.mount(s, async (root) => {
        if (!root) return [];
        return await using(await openMetaDir(root, "snapshots", false), async (snaps) => {
          if (!snaps) return [];
          if (wanted) {
            const r = await readSnapshotRecord(snaps, wanted.name);
            return r ? [r] : [];
          }
          return await listSnapshotRecords(snaps);
        });
      });
      for (const r of recs) {
        if (r.state !== "ready") continue;
        if (req.source_volume_id && !sameVolume(r.sourceVolumeId, req.source_volume_id)) continue;
        all.push(snapshotOf(s.name, r));
      }
    }
    all.sort((a, b) => (a.snapshot_id! < b.snapshot_id! ? -1 : 1));
    const { page, next } = paginate(all, (e) => e.snapshot_id!, req.max_entries, req.starting_token);
    return { entries: page.map((snapshot) => ({ snapshot })), next_token: next };
  }
}

import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";
import type { CreateVolumeResponse } from "./generated/csi/v1/CreateVolumeResponse.ts";
import type { DeleteVolumeRequest__Output } from "./generated/csi/v1/DeleteVolumeRequest.ts";
import type { DeleteVolumeResponse } from "./generated/csi/v1/DeleteVolumeResponse.ts";
import type { ControllerExpandVolumeRequest__Output } from "./generated/csi/v1/ControllerExpandVolumeRequest.ts";
import type { ControllerExpandVolumeResponse } from "./generated/csi/v1/ControllerExpandVolumeResponse.ts";
import type { ValidateVolumeCapabilitiesRequest__Output } from "./generated/csi/v1/ValidateVolumeCapabilitiesRequest.ts";
import type { ValidateVolumeCapabilitiesResponse } from "./generated/csi/v1/ValidateVolumeCapabilitiesResponse.ts";
import type { ControllerGetCapabilitiesResponse } from "./generated/csi/v1/ControllerGetCapabilitiesResponse.ts";
import type { CreateSnapshotRequest__Output } from "./generated/csi/v1/CreateSnapshotRequest.ts";
import type { CreateSnapshotResponse } from "./generated/csi/v1/CreateSnapshotResponse.ts";
import type { DeleteSnapshotRequest__Output } from "./generated/csi/v1/DeleteSnapshotRequest.ts";
import type { ListSnapshotsRequest__Output } from "./generated/csi/v1/ListSnapshotsRequest.ts";
import type { ListSnapshotsResponse } from "./generated/csi/v1/ListSnapshotsResponse.ts";
import type { ListVolumesRequest__Output } from "./generated/csi/v1/ListVolumesRequest.ts";
import type { ListVolumesResponse } from "./generated/csi/v1/ListVolumesResponse.ts";
import type { GetCapacityResponse } from "./generated/csi/v1/GetCapacityResponse.ts";
import { alreadyExists, invalidArgument, notFound, outOfRange } from "../errors.ts";
import { mountFlags } from "../juicefs/mount_options.ts";
import { capabilityProblem, checkCapabilities, CONTROLLER_CAPABILITIES } from "./capabilities.ts";
import { chosenCapacity, fitsCapacity, parseCapacity, parseCreateParams } from "./create_params.ts";
import { decodeVolumeId, encodeVolumeId, type VolumeRef } from "../volume_id.ts";
import type { FsSettings } from "../juicefs/settings.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { renderPathPattern } from "../juicefs/path_pattern.ts";
import {
  checkRecordable,
  openMetaDir,
  policyOf,
  readRecord,
  removeRecord,
  type VolumeRecord,
  writeRecord,
} from "../juicefs/volume_records.ts";
import { makeVolumeDir, openVolumeDir, quotaOnVolume, VOLUME_MODE } from "../juicefs/volume_dirs.ts";
import type { PathFd } from "../fs/beneath.ts";
import type { AdminMounts } from "../clients/admin_mounts.ts";
import type { JuiceFsCli } from "../juicefs/cli.ts";
import { type Cloner, ControlFileCloner } from "../juicefs/clone.ts";
import type { KeyedLocks } from "../locks.ts";
import { logger } from "../log.ts";
import { echoId, KnownFileSystems, removeInFor, settingsFor, withFsRoot } from "./controller_support.ts";
import { SnapshotService } from "./snapshots.ts";
import { applyDeletePolicy } from "./delete_policy.ts";
import { modifyVolume, parseMutableParams } from "./modify.ts";
import type { ControllerModifyVolumeRequest__Output } from "./generated/csi/v1/ControllerModifyVolumeRequest.ts";
import { Listing } from "./listing.ts";
import {
  makeClonedVolumeDir,
  openSource,
  parseContentSource,
  recordedSource,
  sameSource,
  type Source,
  sourceLockKey,
  sourceMessage,
} from "./volume_sources.ts";

const log = logger("controller");
const MAX_NAME = 255;

export interface ControllerDeps {
  admin: AdminMounts;
  cli: JuiceFsCli;
  locks: KeyedLocks;
  now?: () => Date;
  /** How trees are cloned (snapshots, restores, volume clones); the admin mount's control file by default. */
  cloner?: Cloner;
}

function requireId(id: string): string {
  if (!id) throw invalidArgument("volume_id is required");
  return id;
}

/** A volume is a subdirectory of a JuiceFS file system with a directory quota. */
export class ControllerService {
  private now: () => Date;
  private cloner: Cloner;
  private known = new KnownFileSystems();
  private snapshots: SnapshotService;
  private listing: Listing;

  constructor(private d: ControllerDeps) {
    this.now = d.now ?? (() => new Date());
    this.cloner = d.cloner ?? new ControlFileCloner();
    this.snapshots = new SnapshotService({ ...d, cloner: this.cloner, known: this.known, now: this.now });
    this.listing = new Listing(d.admin, this.known);
  }

  ControllerGetCapabilities(): Promise<ControllerGetCapabilitiesResponse> {
    return Promise.resolve({ capabilities: CONTROLLER_CAPABILITIES.map((type) => ({ rpc: { type } })) });
  }

  CreateSnapshot(req: CreateSnapshotRequest__Output): Promise<CreateSnapshotResponse> {
    return this.snapshots.CreateSnapshot(req);
  }

  DeleteSnapshot(req: DeleteSnapshotRequest__Output): Promise<Record<string, never>> {
    return this.snapshots.DeleteSnapshot(req);
  }

  ListSnapshots(req: ListSnapshotsRequest__Output): Promise<ListSnapshotsResponse> {
    return this.snapshots.ListSnapshots(req);
  }

  ListVolumes(req: ListVolumesRequest__Output): Promise<ListVolumesResponse> {
    return this.listing.ListVolumes(req);
  }

  GetCapacity(): Promise<GetCapacityResponse> {
    return this.listing.GetCapacity();
  }

  ControllerModifyVolume(req: ControllerModifyVolumeRequest__Output): Promise<Record<string, never>> {
    return modifyVolume(req, {
      locks: this.d.locks,
      known: this.known,
      withRoot: (s, fn) => this.withRoot(s, false, fn),
    });
  }

  /** The admin mount's root as an fd; the file system is remembered for the listings once a call worked. */
  private withRoot<T>(
    settings: FsSettings,
    format: boolean,
    fn: (root: PathFd | undefined) => Promise<T>,
  ): Promise<T> {
    return this.d.admin.withMount(settings, { format }, async (mount) => {
      const out = mount ? await withFsRoot(mount, fn) : await fn(undefined);
      this.known.remember(settings);
      return out;
    });
  }

  /** Runs `fn` holding the source's lock too (a source deleted mid-clone is refused, not half-cloned). */
  private withSourceLock<T>(source: Source | undefined, fn: () => Promise<T>): Promise<T> {
    if (!source) return fn();
    return this.d.locks.withLock(
      sourceLockKey(source),
      `the source of the volume (${echoId(source.id)})`,
      fn,
    );
  }

  async CreateVolume(req: CreateVolumeRequest__Output): Promise<CreateVolumeResponse> {
    const name = req.name;
    if (!name) throw invalidArgument("name is required");
    if (name.length > MAX_NAME || name.includes("\0")) {
      throw invalidArgument(`name is longer than ${MAX_NAME} bytes or contains NUL`);
    }
    const caps = checkCapabilities(req.volume_capabilities);
    const params = parseCreateParams(req.parameters);
    // A VolumeAttributesClass's onDelete wins over the StorageClass's: it is the one meant to change.
    params.onDelete = parseMutableParams(req.mutable_parameters).onDelete ?? params.onDelete;
    // Refused now rather than at every stage of the volume.
    for (const cap of caps) mountFlags(cap.mount?.mount_flags ?? [], params.mountOptions);
    const capacity = parseCapacity(req.capacity_range);
    const settings = settingsFromSecrets(req.secrets);
    const source = parseContentSource(req.volume_content_source, settings.name);
    const subdir = renderPathPattern(params.pathPattern, name, req.parameters);
    checkRecordable(subdir, params.pathPattern ? "parameter pathPattern rendered to" : "volume name");
    const ref: VolumeRef = { fsName: settings.name, onDelete: params.onDelete, subdir };
    if (source?.kind === "volume" && source.ref.subdir === subdir) {
      throw invalidArgument(`volume "${name}" cannot be cloned from itself (directory /${subdir})`);
    }
    const response = (rec: VolumeRecord): CreateVolumeResponse => {
      const content = sourceMessage(rec);
      return {
        volume: {
          // The id given at creation, whatever ModifyVolume has changed since: ids never change.
          volume_id: rec.volumeId ?? encodeVolumeId(ref),
          capacity_bytes: rec.capacityBytes,
          volume_context: {
            subdir,
            ...(params.mountOptions ? { mountOptions: params.mountOptions } : {}),
            ...params.podParams,
          },
          ...(content ? { content_source: content } : {}),
        },
      };
    };

    return await this.d.locks.withLock(
      `${settings.name}/${subdir}`,
      `volume directory /${subdir}`,
      () =>
        this.withSourceLock(source, () =>
          this.withRoot(settings, true, async (root) => {
            if (!root) throw new Error("file system was not mounted");
            const volumes = await openMetaDir(root, "volumes", true);
            if (!volumes) throw new Error("unreachable: a created metadata directory is missing");
            try {
              const existing = await readRecord(volumes, subdir);
              if (existing) {
                if (existing.name !== name) {
                  throw alreadyExists(
                    `directory /${subdir} already belongs to volume "${existing.name}"; make pathPattern unique`,
                  );
                }
                const have = BigInt(existing.capacityBytes);
                if (!fitsCapacity(have, capacity)) {
                  throw alreadyExists(
                    `volume "${name}" exists with capacity ${have} bytes, which the requested range does not allow`,
                  );
                }
                if (!sameSource(existing, source)) {
                  throw alreadyExists(`volume "${name}" exists with another content source`);
                }
                if (existing.state !== "creating") return response(existing);
              }
              const src = source ? await openSource(root, source) : undefined;
              try {
                let bytes = chosenCapacity(capacity);
                if (src && src.sizeBytes > 0n) {
                  const limit = capacity.limit;
                  if ((bytes > 0n && bytes < src.sizeBytes) || (limit > 0n && limit < src.sizeBytes)) {
                    throw outOfRange(
                      `the source ${
                        source!.id
                      } holds ${src.sizeBytes} bytes; a volume made from it needs at least that`,
                    );
                  }
                  if (bytes === 0n) bytes = src.sizeBytes;
                }
                const rec: VolumeRecord = existing ?? {
                  name,
                  subdir,
                  capacityBytes: String(bytes),
                  createdAt: this.now().toISOString(),
                  onDelete: params.onDelete,
                  volumeId: encodeVolumeId(ref),
                  state: "creating",
                  ...(source ? { contentSource: recordedSource(source) } : {}),
                };
                const v = src
                  ? await makeClonedVolumeDir(root, volumes, rec, src.tree, {
                    cloner: this.cloner,
                    removeIn: removeInFor(this.d.cli, settings),
                  })
                  : await makeVolumeDir(root, subdir, existing);
                try {
                  // Recorded before anything else happens to it: a retry after a failure below
                  // knows the directory by inode and finishes it, instead of refusing it as foreign.
                  if (rec.ino !== v.ino) await writeRecord(volumes, { ...rec, ino: v.ino });
                  const quota = BigInt(rec.capacityBytes);
                  if (quota > 0n) {
                    await quotaOnVolume(root, subdir, v, () => this.d.cli.setQuota(settings, subdir, quota));
                  }
                  await v.dir.chmod(VOLUME_MODE);
                } finally {
                  v.close();
                }
                const ready: VolumeRecord = { ...rec, ino: v.ino, state: "ready" };
                await writeRecord(volumes, ready);
                log.info("created volume {name} at /{subdir} of {fs} with quota {bytes}{from}", {
                  name,
                  subdir,
                  fs: settings.name,
                  bytes: rec.capacityBytes,
                  from: source ? ` from ${source.kind} ${source.id}` : "",
                });
                return response(ready);
              } finally {
                src?.tree.close();
              }
            } finally {
              volumes.close();
            }
          })),
    );
  }

  async DeleteVolume(req: DeleteVolumeRequest__Output): Promise<DeleteVolumeResponse> {
    const ref = decodeVolumeId(requireId(req.volume_id));
    if (!ref) {
      log.info("delete of {id}: not an id of this driver; nothing to do", { id: req.volume_id });
      return {};
    }
    const settings = settingsFor(ref, req.secrets);
    await this.d.locks.withLock(
      `${ref.fsName}/${ref.subdir}`,
      `volume directory /${ref.subdir}`,
      () =>
        this.withRoot(settings, false, async (root) => {
          if (!root) return;
          {
            const volumes = await openMetaDir(root, "volumes", false);
            if (!volumes) return;
            try {
              // Only a directory this driver created (it has a record) is ever deleted or moved,
              // and as its record says: the id only finds the record.
              const rec = await readRecord(volumes, ref.subdir);
              if (!rec) return;
              if (policyOf(rec) !== ref.onDelete) {
                log.warning("delete of {id}: the volume's record says onDelete={policy}, which applies", {
                  id: req.volume_id,
                  policy: policyOf(rec),
                });
              }
              await applyDeletePolicy(root, rec, {
                removeIn: removeInFor(this.d.cli, settings),
                now: this.now,
              });
              await removeRecord(volumes, ref.subdir);
            } finally {
              volumes.close();
            }
          }
        }),
    );
    return {};
  }

  async ControllerExpandVolume(
    req: ControllerExpandVolumeRequest__Output,
  ): Promise<ControllerExpandVolumeResponse> {
    const id = requireId(req.volume_id);
    if (!req.capacity_range) throw invalidArgument("capacity_range is required");
    const capacity = parseCapacity(req.capacity_range);
    const want = chosenCapacity(capacity);
    if (want <= 0n) throw invalidArgument("capacity_range must give required_bytes or limit_bytes");
    const ref = decodeVolumeId(id);
    if (!ref) throw notFound(`volume "${id.slice(0, 128)}" does not exist`);
    const settings = settingsFor(ref, req.secrets);
    const missing = () => notFound(`volume "${id}" does not exist`);
    return await this.d.locks.withLock(
      `${ref.fsName}/${ref.subdir}`,
      `volume directory /${ref.subdir}`,
      () =>
        this.withRoot(settings, false, async (root) => {
          if (!root) throw missing();
          {
            const volumes = await openMetaDir(root, "volumes", false);
            if (!volumes) throw missing();
            try {
              const rec = await readRecord(volumes, ref.subdir);
              if (!rec) throw missing();
              const v = await openVolumeDir(root, rec);
              if (!v) throw missing();
              try {
                const have = BigInt(rec.capacityBytes);
                if (have >= want && have > 0n) {
                  return { capacity_bytes: String(have), node_expansion_required: false };
                }
                await quotaOnVolume(
                  root,
                  ref.subdir,
                  v,
                  () => this.d.cli.setQuota(settings, ref.subdir, want),
                );
              } finally {
                v.close();
              }
              await writeRecord(volumes, { ...rec, capacityBytes: String(want) });
              log.info("volume /{subdir} quota raised to {bytes}", {
                subdir: ref.subdir,
                bytes: String(want),
              });
              return { capacity_bytes: String(want), node_expansion_required: false };
            } finally {
              volumes.close();
            }
          }
        }),
    );
  }

  async ValidateVolumeCapabilities(
    req: ValidateVolumeCapabilitiesRequest__Output,
  ): Promise<ValidateVolumeCapabilitiesResponse> {
    const id = requireId(req.volume_id);
    if (!req.volume_capabilities?.length) throw invalidArgument("volume_capabilities is required");
    const ref = decodeVolumeId(id);
    if (!ref) throw notFound(`volume "${id.slice(0, 128)}" does not exist`);
    if (Object.keys(req.secrets ?? {}).length > 0) {
      // Never a mount here: each distinct (possibly wrong) secret would start a client. The
      // metadata engine alone says whether the volume's directory is there.
      const settings = settingsFor(ref, req.secrets);
      if (!(await this.d.cli.dirExists(settings, ref.subdir))) {
        throw notFound(`volume "${id}" does not exist`);
      }
    }
    const problems = req.volume_capabilities.map(capabilityProblem).filter((p): p is string => !!p);
    if (problems.length > 0) return { message: problems.join("; ") };
    return {
      confirmed: {
        volume_context: req.volume_context,
        volume_capabilities: req.volume_capabilities,
        parameters: req.parameters,
        mutable_parameters: req.mutable_parameters,
      },
    };
  }
}

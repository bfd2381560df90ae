import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";
import type { CreateVolumeResponse } from "./generated/csi/v1/CreateVolumeResponse.ts";
import type { DeleteVolumeRequest__Output } from "./generated/csi/v1/DeleteVolumeRequest.ts";
import type { DeleteVolumeResponse } from "./generated/csi/v1/DeleteVolumeResponse.ts";
import type { ControllerExpandVolumeRequest__Output } from "./generated/csi/v1/ControllerExpandVolumeRequest.ts";
import type { ControllerExpandVolumeResponse } from "./generated/csi/v1/ControllerExpandVolumeResponse.ts";
import type { ValidateVolumeCapabilitiesRequest__Output } from "./generated/csi/v1/ValidateVolumeCapabilitiesRequest.ts";
import type { ValidateVolumeCapabilitiesResponse } from "./generated/csi/v1/ValidateVolumeCapabilitiesResponse.ts";
import type { ControllerGetCapabilitiesResponse } from "./generated/csi/v1/ControllerGetCapabilitiesResponse.ts";
import { alreadyExists, invalidArgument, notFound } from "../errors.ts";
import { mountFlags } from "../juicefs/mount_options.ts";
import { capabilityProblem, checkCapabilities } from "./capabilities.ts";
import { chosenCapacity, fitsCapacity, parseCapacity, parseCreateParams } from "./create_params.ts";
import { decodeVolumeId, encodeVolumeId, type VolumeRef } from "../volume_id.ts";
import { type FsSettings, settingsFromSecrets } from "../juicefs/settings.ts";
import { renderPathPattern } from "../juicefs/path_pattern.ts";
import {
  checkRecordable,
  openFsRoot,
  openMetaDir,
  policyOf,
  readRecord,
  recordName,
  removeRecord,
  type VolumeRecord,
  writeRecord,
} from "../juicefs/volume_records.ts";
import {
  makeVolumeDir,
  moveVolumeDir,
  openVolumeDir,
  quotaOnVolume,
  VOLUME_MODE,
} from "../juicefs/volume_dirs.ts";
import type { PathFd } from "../fs/beneath.ts";
import { statEntry } from "../fs/entries.ts";
import { RESERVED_TOP } from "../juicefs/subdir.ts";
import type { AdminMounts } from "../clients/admin_mounts.ts";
import type { JuiceFsCli } from "../juicefs/cli.ts";
import type { KeyedLocks } from "../locks.ts";
import { logger } from "../log.ts";

const log = logger("controller");
const MAX_NAME = 255;

export interface ControllerDeps {
  admin: AdminMounts;
  cli: JuiceFsCli;
  locks: KeyedLocks;
  now?: () => Date;
}

/** Runs `fn` with the admin mount's root opened as an fd (see lib/fs/beneath.ts). */
async function withFsRoot<T>(mount: string, fn: (root: PathFd) => Promise<T>): Promise<T> {
  const root = await openFsRoot(mount);
  try {
    return await fn(root);
  } finally {
    root.close();
  }
}

function requireId(id: string): string {
  if (!id) throw invalidArgument("volume_id is required");
  return id;
}

/** Secrets must describe the file system the volume id names. */
function settingsFor(ref: VolumeRef, secrets: Record<string, string>): FsSettings {
  const s = settingsFromSecrets(secrets);
  if (s.name !== ref.fsName) {
    throw invalidArgument(
      `volume belongs to file system "${ref.fsName}" but the secrets describe "${s.name}"`,
    );
  }
  return s;
}

/** A volume is a subdirectory of a JuiceFS file system with a directory quota. */
export class ControllerService {
  private now: () => Date;

  constructor(private d: ControllerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  ControllerGetCapabilities(): Promise<ControllerGetCapabilitiesResponse> {
    const types = ["CREATE_DELETE_VOLUME", "EXPAND_VOLUME", "SINGLE_NODE_MULTI_WRITER"] as const;
    return Promise.resolve({ capabilities: types.map((type) => ({ rpc: { type } })) });
  }

  async CreateVolume(req: CreateVolumeRequest__Output): Promise<CreateVolumeResponse> {
    const name = req.name;
    if (!name) throw invalidArgument("name is required");
    if (name.length > MAX_NAME || name.includes("\0")) {
      throw invalidArgument(`name is longer than ${MAX_NAME} bytes or contains NUL`);
    }
    const caps = checkCapabilities(req.volume_capabilities);
    if (req.volume_content_source) {
      throw invalidArgument("volume_content_source (snapshots, clones) is not supported");
    }
    const params = parseCreateParams(req.parameters);
    // Refused now rather than at every stage of the volume.
    for (const cap of caps) mountFlags(cap.mount?.mount_flags ?? [], params.mountOptions);
    const capacity = parseCapacity(req.capacity_range);
    const settings = settingsFromSecrets(req.secrets);
    const subdir = renderPathPattern(params.pathPattern, name, req.parameters);
    checkRecordable(subdir, params.pathPattern ? "parameter pathPattern rendered to" : "volume name");
    const ref: VolumeRef = { fsName: settings.name, onDelete: params.onDelete, subdir };
    const bytes = chosenCapacity(capacity);
    const response = (capacityBytes: bigint): CreateVolumeResponse => ({
      volume: {
        volume_id: encodeVolumeId(ref),
        capacity_bytes: String(capacityBytes),
        volume_context: {
          subdir,
          ...(params.mountOptions ? { mountOptions: params.mountOptions } : {}),
          ...params.podParams,
        },
      },
    });

    return await this.d.locks.withLock(
      `${settings.name}/${subdir}`,
      `volume directory /${subdir}`,
      () =>
        this.d.admin.withMount(settings, { format: true }, async (mount) => {
          if (!mount) throw new Error("file system was not mounted");
          return await withFsRoot(mount, async (root) => {
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
                if (existing.state !== "creating") return response(have);
              }
              const rec: VolumeRecord = existing ?? {
                name,
                subdir,
                capacityBytes: String(bytes),
                createdAt: this.now().toISOString(),
                onDelete: params.onDelete,
                state: "creating",
              };
              const v = await makeVolumeDir(root, subdir, existing);
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
              await writeRecord(volumes, { ...rec, ino: v.ino, state: "ready" });
              log.info("created volume {name} at /{subdir} of {fs} with quota {bytes}", {
                name,
                subdir,
                fs: settings.name,
                bytes: rec.capacityBytes,
              });
              return response(BigInt(rec.capacityBytes));
            } finally {
              volumes.close();
            }
          });
        }),
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
        this.d.admin.withMount(settings, { format: false }, async (mount) => {
          if (!mount) return;
          await withFsRoot(mount, async (root) => {
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
              await this.applyDeletePolicy(root, rec, settings);
              await removeRecord(volumes, ref.subdir);
            } finally {
              volumes.close();
            }
          });
        }),
    );
    return {};
  }

  private async applyDeletePolicy(root: PathFd, rec: VolumeRecord, settings: FsSettings): Promise<void> {
    const policy = policyOf(rec);
    if (policy === "retain") {
      log.info("volume /{subdir} retained", { subdir: rec.subdir });
      return;
    }
    const trashName = recordName(rec.subdir)!.replace(/\.json$/, "");
    const dest = await openMetaDir(root, policy === "delete" ? "trash" : "archive", true);
    if (!dest) throw new Error("unreachable: a created metadata directory is missing");
    try {
      if (policy === "delete") {
        // A delete that failed half way left its directory in the trash: finish it first.
        await this.removeFromTrash(dest, trashName, settings);
        const v = await openVolumeDir(root, rec);
        if (v) {
          try {
            await moveVolumeDir(v, rec.subdir, dest, trashName);
          } finally {
            v.close();
          }
          await this.removeFromTrash(dest, trashName, settings);
        }
        log.info("volume /{subdir} deleted", { subdir: rec.subdir });
        return;
      }
      const stamp = this.now().toISOString().replace(/[:.]/g, "-");
      const target = `${rec.subdir.replaceAll("/", "_").slice(0, 200)}-${stamp}`;
      const v = await openVolumeDir(root, rec);
      if (!v) return;
      try {
        await moveVolumeDir(v, rec.subdir, dest, target);
      } finally {
        v.close();
      }
      log.info("volume /{subdir} archived to {target}", {
        subdir: rec.subdir,
        target: `/${RESERVED_TOP}/archive/${target}`,
      });
    } finally {
      dest.close();
    }
  }

  /** Removes `name` from the driver's trash, if there: server-side, by the trash's fd. */
  private async removeFromTrash(trash: PathFd, name: string, settings: FsSettings): Promise<void> {
    if (!(await statEntry(trash, name))) return;
    // juicefs rmr resolves the parent's inode and sends it with the name to the client, which
    // removes in its metadata: through our fd the parent is exactly the trash directory.
    await this.d.cli.rmr(`/proc/${Deno.pid}/fd/${trash.fd}/${name}`, settings.secretEnv);
    await Deno.remove(`${trash.procPath}/${name}`, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
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
        this.d.admin.withMount(settings, { format: false }, async (mount) => {
          if (!mount) throw missing();
          return await withFsRoot(mount, async (root) => {
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
          });
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

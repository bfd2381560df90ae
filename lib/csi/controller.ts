import { join } from "node:path";
import type { CreateVolumeRequest__Output } from "./generated/csi/v1/CreateVolumeRequest.ts";
import type { CreateVolumeResponse } from "./generated/csi/v1/CreateVolumeResponse.ts";
import type { DeleteVolumeRequest__Output } from "./generated/csi/v1/DeleteVolumeRequest.ts";
import type { DeleteVolumeResponse } from "./generated/csi/v1/DeleteVolumeResponse.ts";
import type { ControllerExpandVolumeRequest__Output } from "./generated/csi/v1/ControllerExpandVolumeRequest.ts";
import type { ControllerExpandVolumeResponse } from "./generated/csi/v1/ControllerExpandVolumeResponse.ts";
import type { ValidateVolumeCapabilitiesRequest__Output } from "./generated/csi/v1/ValidateVolumeCapabilitiesRequest.ts";
import type { ValidateVolumeCapabilitiesResponse } from "./generated/csi/v1/ValidateVolumeCapabilitiesResponse.ts";
import type { ControllerGetCapabilitiesResponse } from "./generated/csi/v1/ControllerGetCapabilitiesResponse.ts";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import { isLinkFree } from "../mount/paths.ts";
import { mountFlags } from "../juicefs/mount_options.ts";
import { capabilityProblem, checkCapabilities } from "./capabilities.ts";
import { chosenCapacity, fitsCapacity, parseCapacity, parseCreateParams } from "./create_params.ts";
import { decodeVolumeId, encodeVolumeId, type VolumeRef } from "../volume_id.ts";
import { type FsSettings, settingsFromSecrets } from "../juicefs/settings.ts";
import { renderPathPattern } from "../juicefs/path_pattern.ts";
import { archiveDir, readRecord, removeRecord, writeRecord } from "../juicefs/volume_records.ts";
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Refuses a volume directory reached through a symbolic link planted in the file system. */
async function requireLinkFree(root: string, subdir: string): Promise<void> {
  if (!(await isLinkFree(join(root, subdir)))) {
    throw failedPrecondition(
      `volume directory /${subdir} is or lies under a symbolic link; refusing to use it`,
    );
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
        this.d.admin.withMount(settings, { format: true }, async (root) => {
          if (!root) throw new Error("file system was not mounted");
          const existing = await readRecord(root, subdir);
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
            return response(have);
          }
          await requireLinkFree(root, subdir);
          if (bytes > 0n) await this.d.cli.setQuota(settings, subdir, bytes);
          else await Deno.mkdir(join(root, subdir), { recursive: true });
          // Pods run as any user: the volume root must be writable by them, as with JuiceFS CSI.
          await Deno.chmod(join(root, subdir), 0o777);
          await writeRecord(root, {
            name,
            subdir,
            capacityBytes: String(bytes),
            createdAt: this.now().toISOString(),
          });
          log.info("created volume {name} at /{subdir} of {fs} with quota {bytes}", {
            name,
            subdir,
            fs: settings.name,
            bytes: String(bytes),
          });
          return response(bytes);
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
        this.d.admin.withMount(settings, { format: false }, async (root) => {
          if (!root) return;
          // Only a directory this driver created (it has a record) is ever deleted or moved.
          if (!(await readRecord(root, ref.subdir))) return;
          await requireLinkFree(root, ref.subdir);
          if (await exists(join(root, ref.subdir))) await this.applyDeletePolicy(root, ref, settings);
          await removeRecord(root, ref.subdir);
        }),
    );
    return {};
  }

  private async applyDeletePolicy(root: string, ref: VolumeRef, settings: FsSettings): Promise<void> {
    const dir = join(root, ref.subdir);
    switch (ref.onDelete) {
      case "retain":
        log.info("volume /{subdir} retained", { subdir: ref.subdir });
        return;
      case "delete":
        await this.d.cli.rmr(dir, settings.secretEnv);
        await Deno.remove(dir, { recursive: true }).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
        log.info("volume /{subdir} deleted", { subdir: ref.subdir });
        return;
      case "archive": {
        const stamp = this.now().toISOString().replace(/[:.]/g, "-");
        const target = join(archiveDir(root), `${ref.subdir.replaceAll("/", "_")}-${stamp}`);
        await Deno.mkdir(archiveDir(root), { recursive: true, mode: 0o700 });
        await Deno.rename(dir, target);
        log.info("volume /{subdir} archived to {target}", {
          subdir: ref.subdir,
          target: target.slice(root.length),
        });
        return;
      }
    }
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
    return await this.d.locks.withLock(
      `${ref.fsName}/${ref.subdir}`,
      `volume directory /${ref.subdir}`,
      () =>
        this.d.admin.withMount(settings, { format: false }, async (root) => {
          if (!root || !(await readRecord(root, ref.subdir)) || !(await exists(join(root, ref.subdir)))) {
            throw notFound(`volume "${id}" does not exist`);
          }
          await requireLinkFree(root, ref.subdir);
          const rec = await readRecord(root, ref.subdir);
          const have = rec ? BigInt(rec.capacityBytes) : 0n;
          if (have >= want && have > 0n) {
            return { capacity_bytes: String(have), node_expansion_required: false };
          }
          await this.d.cli.setQuota(settings, ref.subdir, want);
          await writeRecord(root, {
            name: rec?.name ?? ref.subdir,
            subdir: ref.subdir,
            capacityBytes: String(want),
            createdAt: rec?.createdAt ?? this.now().toISOString(),
          });
          log.info("volume /{subdir} quota raised to {bytes}", { subdir: ref.subdir, bytes: String(want) });
          return { capacity_bytes: String(want), node_expansion_required: false };
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

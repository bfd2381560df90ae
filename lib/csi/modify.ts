/**
 * Mutable parameters (a VolumeAttributesClass): `onDelete` only. It changes what the
 * volume's record says DeleteVolume does (delete, retain, archive): a PV that turns out to
 * hold data worth keeping can be switched to `retain` without touching its directory. The
 * record decides at DeleteVolume, so the policy spelled in the (immutable) volume id goes stale
 * harmlessly. Everything else (the directory, the quota) is fixed or has its own RPC.
 */
import type { ControllerModifyVolumeRequest__Output } from "./generated/csi/v1/ControllerModifyVolumeRequest.ts";
import { failedPrecondition, invalidArgument, notFound } from "../errors.ts";
import { decodeVolumeId, DELETE_POLICIES, type DeletePolicy } from "../volume_id.ts";
import { openMetaDir, readRecord, writeRecord } from "../juicefs/volume_records.ts";
import type { PathFd } from "../fs/beneath.ts";
import type { FsSettings } from "../juicefs/settings.ts";
import type { KeyedLocks } from "../locks.ts";
import { type KnownFileSystems, settingsFor, using } from "./controller_support.ts";
import { logger } from "../log.ts";

const log = logger("controller");

/** The mutable parameters; anything unknown is INVALID_ARGUMENT. */
export function parseMutableParams(p: Record<string, string> | undefined): { onDelete?: DeletePolicy } {
  const params = p ?? {};
  for (const k of Object.keys(params)) {
    if (k !== "onDelete") {
      throw invalidArgument(`mutable parameter "${k.slice(0, 128)}" is not known; known: onDelete`);
    }
  }
  const v = params["onDelete"];
  if (v === undefined) return {};
  if (!(DELETE_POLICIES as readonly string[]).includes(v)) {
    throw invalidArgument(
      `mutable parameter onDelete must be one of ${DELETE_POLICIES.join(", ")}, got "${v.slice(0, 64)}"`,
    );
  }
  return { onDelete: v as DeletePolicy };
}

export async function modifyVolume(
  req: ControllerModifyVolumeRequest__Output,
  d: {
    locks: KeyedLocks;
    known: KnownFileSystems;
    withRoot: <T>(s: FsSettings, fn: (root: PathFd | undefined) => Promise<T>) => Promise<T>;
  },
): Promise<Record<string, never>> {
  if (!req.volume_id) throw invalidArgument("volume_id is required");
  const change = parseMutableParams(req.mutable_parameters);
  const ref = decodeVolumeId(req.volume_id);
  const missing = () => notFound(`volume "${req.volume_id.slice(0, 256)}" does not exist`);
  if (!ref) throw missing();
  // csi-resizer (v1.14) sends ModifyVolume without secrets: then the file system must be one
  // this controller has served since it started (as for ListVolumes).
  const settings = Object.keys(req.secrets ?? {}).length
    ? settingsFor(ref, req.secrets)
    : d.known.get(ref.fsName);
  if (!settings) {
    throw failedPrecondition(
      `the request has no secrets and this controller has not served file system "${ref.fsName}" since it ` +
        `started; retry after any call that carries its secrets (CreateVolume, DeleteVolume, ...)`,
    );
  }
  await d.locks.withLock(
    `${ref.fsName}/${ref.subdir}`,
    `volume directory /${ref.subdir}`,
    () =>
      d.withRoot(settings, async (root) => {
        if (!root) throw missing();
        await using(await openMetaDir(root, "volumes", false), async (volumes) => {
          const rec = volumes && await readRecord(volumes, ref.subdir);
          if (!volumes || !rec) throw missing();
          if (change.onDelete && change.onDelete !== rec.onDelete) {
            await writeRecord(volumes, { ...rec, onDelete: change.onDelete });
            log.info("volume /{subdir}: onDelete is now {policy}", {
              subdir: ref.subdir,
              policy: change.onDelete,
            });
          }
        });
      }),
  );
  return {};
}

/** What DeleteVolume does to a volume's directory, as its record (not its id) says. */
import type { PathFd } from "../fs/beneath.ts";
import type { RemoveIn } from "../juicefs/clone_dirs.ts";
import { RESERVED_TOP } from "../juicefs/subdir.ts";
import { moveVolumeDir, openVolumeDir } from "../juicefs/volume_dirs.ts";
import { openMetaDir, policyOf, recordName, type VolumeRecord } from "../juicefs/volume_records.ts";
import { logger } from "../log.ts";

const log = logger("controller");

export async function applyDeletePolicy(
  root: PathFd,
  rec: VolumeRecord,
  d: { removeIn: RemoveIn; now: () => Date },
): Promise<void> {
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
      await d.removeIn(dest, trashName);
      const v = await openVolumeDir(root, rec);
      if (v) {
        try {
          await moveVolumeDir(v, rec.subdir, dest, trashName);
        } finally {
          v.close();
        }
        await d.removeIn(dest, trashName);
      }
      log.info("volume /{subdir} deleted", { subdir: rec.subdir });
      return;
    }
    const stamp = d.now().toISOString().replace(/[:.]/g, "-");
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

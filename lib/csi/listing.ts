/**
 * ListVolumes and GetCapacity. Neither RPC carries secrets, and without them the controller
 * cannot reach a file system: both look at the file systems this process has served
 * (KnownFileSystems in controller_support.ts). A controller that just started knows none and
 * lists nothing until a call with secrets (CreateVolume, DeleteVolume, ...) has come.
 */
import type { ListVolumesRequest__Output } from "./generated/csi/v1/ListVolumesRequest.ts";
import type { ListVolumesResponse } from "./generated/csi/v1/ListVolumesResponse.ts";
import type { GetCapacityResponse } from "./generated/csi/v1/GetCapacityResponse.ts";
import type { Volume } from "./generated/csi/v1/Volume.ts";
import type { AdminMounts } from "../clients/admin_mounts.ts";
import { listRecords, openMetaDir, policyOf } from "../juicefs/volume_records.ts";
import { probeStatfs } from "../mount/stat_probe.ts";
import { encodeVolumeId } from "../volume_id.ts";
import { type KnownFileSystems, paginate, using, withFsRoot } from "./controller_support.ts";
import { sourceMessage } from "./volume_sources.ts";
import { logger } from "../log.ts";

const log = logger("listing");

export class Listing {
  constructor(private admin: AdminMounts, private known: KnownFileSystems) {}

  async ListVolumes(req: ListVolumesRequest__Output): Promise<ListVolumesResponse> {
    const all: Volume[] = [];
    for (const s of this.known.all()) {
      const recs = await this.admin.withMount(s, { format: false }, async (mount) => {
        if (!mount) return [];
        return await withFsRoot(
          mount,
          async (root) =>
            await using(
              await openMetaDir(root, "volumes", false),
              (v) => v ? listRecords(v) : Promise.resolve([]),
            ),
        );
      });
      for (const rec of recs) {
        if (rec.state === "creating") continue;
        const source = sourceMessage(rec);
        all.push({
          volume_id: rec.volumeId ??
            encodeVolumeId({ fsName: s.name, onDelete: policyOf(rec), subdir: rec.subdir }),
          capacity_bytes: rec.capacityBytes,
          volume_context: { subdir: rec.subdir },
          ...(source ? { content_source: source } : {}),
        });
      }
    }
    all.sort((a, b) => (a.volume_id! < b.volume_id! ? -1 : 1));
    const { page, next } = paginate(all, (v) => v.volume_id!, req.max_entries, req.starting_token);
    return { entries: page.map((volume) => ({ volume })), next_token: next };
  }

  /**
   * The free space of the file systems served, as their mounts report it (statfs): the
   * smallest, since the request does not say which file system a StorageClass uses. With a
   * capacity set (`juicefs format --capacity`, `juicefs config --capacity`) that is the
   * capacity less what is used; an unlimited file system reports what JuiceFS reports for
   * it, about 1 PiB free. 0 when no file system has been served yet.
   */
  async GetCapacity(): Promise<GetCapacityResponse> {
    let least: bigint | undefined;
    for (const s of this.known.all()) {
      const free = await this.admin.withMount(s, { format: false }, async (mount) => {
        if (!mount) return undefined;
        const st = await probeStatfs(mount);
        if (typeof st === "string") {
          log.warn("capacity of {fs}: its admin mount is {state}", { fs: s.name, state: st });
          return undefined;
        }
        return BigInt(st.bavail) * BigInt(st.bsize);
      });
      if (free !== undefined && (least === undefined || free < least)) least = free;
    }
    return { available_capacity: String(least ?? 0n) };
  }
}

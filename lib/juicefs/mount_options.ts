import { parseOptionList } from "./settings.ts";
import { invalidArgument } from "../errors.ts";

// Options that would fight supervision (daemonizing, fstab edits), move the root the
// driver binds from, or put a secret on a command line.
const FORBIDDEN = new Set([
  "d",
  "background",
  "update-fstab",
  "subdir",
  "access-key",
  "secret-key",
  "session-token",
]);

/**
 * `juicefs mount` flags from the StorageClass mountOptions (the capability's mount_flags)
 * and the `mountOptions` parameter; sorted and de-duplicated because they are part of the
 * client's identity: volumes with the same options share one client.
 */
export function mountFlags(mountFlags: string[], paramOptions: string | undefined): string[] {
  const out = new Set<string>();
  for (const raw of [...mountFlags, paramOptions ?? ""]) {
    if (raw.length > 4096) throw invalidArgument("mount options are longer than 4096 bytes");
    for (const flag of parseOptionList(raw, "mount option", FORBIDDEN)) {
      out.add(flag === "--ro" ? "--read-only" : flag);
    }
  }
  return [...out].sort();
}

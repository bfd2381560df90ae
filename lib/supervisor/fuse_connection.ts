import { type CommandRunner, DenoCommandRunner, runOk } from "../exec.ts";
import { failedPrecondition, invalidArgument } from "../errors.ts";

/**
 * Aborts the kernel FUSE connection of a mount, the way `echo 1 >
 * /sys/fs/fuse/connections/N/abort` does: every waiting and future request fails at once
 * (ENOTCONN), so an unmount can no longer wait forever for a daemon that is gone while some
 * process (the supervisor's holder, the node plugin's keeper) still holds the device fd.
 *
 * N is the connection's device number as the kernel encodes it (major << 20 | minor), which
 * for FUSE's anonymous devices (major 0) is the minor of mountinfo's "major:minor".
 * The control file system is mounted first when it is not (a container's /sys often lacks it).
 */
export async function abortFuseConnection(
  device: string,
  deps: { runner?: CommandRunner; connectionsDir?: string } = {},
): Promise<string> {
  const dir = deps.connectionsDir ?? "/sys/fs/fuse/connections";
  const abortFile = `${dir}/${fuseConnectionId(device)}/abort`;
  if (!(await exists(abortFile)) && (await isEmptyDir(dir))) {
    await runOk(deps.runner ?? new DenoCommandRunner(), "mount", ["-t", "fusectl", "fusectl", dir], {
      timeoutMs: 5_000,
    });
  }
  if (!(await exists(abortFile))) {
    throw failedPrecondition(`cannot abort FUSE connection ${device}: ${abortFile} does not exist`);
  }
  await Deno.writeTextFile(abortFile, "1");
  return abortFile;
}

/** The fusectl directory name of a mount's "major:minor" device. */
export function fuseConnectionId(device: string): number {
  const m = /^(\d+):(\d+)$/.exec(device);
  if (!m) throw invalidArgument(`not a mountinfo device "major:minor": ${JSON.stringify(device)}`);
  return Number(m[1]) * 2 ** 20 + Number(m[2]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return false;
    return true;
  } catch {
    return false;
  }
}

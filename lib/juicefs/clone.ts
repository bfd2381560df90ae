/**
 * Clones a directory tree by inode, through the admin mount's control file: the operation
 * `juicefs clone` performs (metadata only, data blocks shared copy-on-write), without its
 * path handling.
 *
 * Why not run `juicefs clone SRC DST`: it resolves SRC and DST by path with stat(2), which
 * follows links, so a tenant who swaps the source directory for a link between our check and
 * its stat could have another inode cloned (a stat through a link into the host even yields a
 * host inode number, which the metadata engine then takes as one of its own). And it finds
 * the mount by walking up to inode 1, so it cannot be handed `/proc/self/fd/N` paths (that
 * walk ends at /proc). Here the source and the destination's parent are directories the
 * driver opened without following links (lib/fs/), and their inodes are what is sent.
 *
 * Protocol (JuiceFS 1.1 to 1.3, pkg/vfs/internal.go, big endian): write to `.control` (the
 * client answers that name itself in every directory; no file of that name can shadow it)
 * `u32 cmd=1006 (Clone), u32 size, u64 srcIno, u64 srcParentIno, u64 dstParentIno, u8 len,
 * name, u16 umask, u8 mode`; then read frames `0xFE u64 done u64 total` (progress) until a
 * single byte: the errno (0 = done). srcParentIno is only checked not to be the trash.
 *
 * The clone is made detached and attached to its parent in one step at the end, and a failed
 * clone removes what it made: the destination name appears complete or not at all.
 */
import type { PathFd } from "../fs/beneath.ts";
import { failedPrecondition, unavailable } from "../errors.ts";

import { cloneMessage } from "./clone_protocol.ts";

const EEXIST = 17;
const EINTR = 4;
/** A clone of millions of entries takes minutes; one that takes longer than this is stuck. */
const CLONE_TIMEOUT_MS = 30 * 60_000;
const HELPER = new URL("./clone_helper.ts", import.meta.url).pathname;

export interface Cloner {
  /** Clones directory `src` into `dstParent` as `name` (which must not exist). */
  clone(src: PathFd, dstParent: PathFd, name: string): Promise<void>;
}
/**
 * Runs the protocol in a helper process (clone_helper.ts), not here: JuiceFS cancels a clone
 * (EINTR) when its control file gets a FUSE FLUSH, which every close of any copy of the fd
 * sends, and every process this controller spawns meanwhile (stat probes, juicefs commands)
 * inherits a copy and closes it at exec. The helper spawns nothing. It reaches the mount's
 * control file through this process's fd of the destination's parent (`.control` is answered
 * by the client itself in every directory, so that path has no name a tenant could plant).
 */
export class ControlFileCloner implements Cloner {
  constructor(private execPath = Deno.execPath(), private timeoutMs = CLONE_TIMEOUT_MS) {}

  async clone(src: PathFd, dstParent: PathFd, name: string): Promise<void> {
    const [s, d] = await Promise.all([src.stat(), dstParent.stat()]);
    if (!s.isDirectory || !d.isDirectory) {
      throw failedPrecondition("clone: source and destination must be directories");
    }
    if (s.dev !== d.dev) {
      throw failedPrecondition("clone: source and destination are in different file systems");
    }
    // srcParentIno: only checked against the trash; the destination's parent is never in it.
    const msg = cloneMessage(BigInt(s.ino), BigInt(d.ino), BigInt(d.ino), name);
    const hex = [...msg].map((b) => b.toString(16).padStart(2, "0")).join("");
    const dir = `/proc/${Deno.pid}/fd/${dstParent.fd}`;
    const args = [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      // Deno grants /proc/<pid>/fd/* paths to nothing less.
      "--allow-all",
    ];
    const out = await new Deno.Command(this.execPath, {
      args: [...args, HELPER, dir, hex],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(this.timeoutMs),
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    const m = /^errno (\d+)$/m.exec(text);
    if (!out.success || !m) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0]?.slice(0, 300);
      throw unavailable(`juicefs clone into ${name}: the clone helper failed (${out.code}): ${err || text}`);
    }
    const errno = Number(m[1]);
    if (errno === 0) return;
    if (errno === EEXIST) throw failedPrecondition(`clone: ${name} already exists`);
    if (errno === EINTR) throw unavailable(`juicefs clone into ${name} was interrupted; retry`);
    throw unavailable(`juicefs clone into ${name} failed: errno ${errno}`);
  }
}

/**
 * Synchronous libc bindings (Deno FFI) for path-safe file-system calls: openat2 (through
 * syscall(2): Debian 12's glibc has no wrapper), mkdirat, statx, chmod, mount, umount2,
 * renameat2 and close. Every call returns `{ ret, errno }`, errno read on the calling thread
 * right after the call (errno is thread-local).
 *
 * These calls can block in the kernel on a stopped FUSE client, so the driver never makes
 * them on its main thread: lib/fs/syscalls.ts runs them in a worker (lib/fs/fs_worker.ts)
 * with a timeout. Only that worker and the tests import this module directly.
 *
 * Linux x86_64 and aarch64 (the open flags differ between them; openat2 is 437 on both).
 * Loading the library needs --allow-ffi; it happens on first use, not at import.
 */

const ARCH = Deno.build.arch;

/** open(2) flags of this architecture (asm-generic for aarch64, x86 for x86_64). */
export const O_PATH = 0o10000000;
export const O_CLOEXEC = 0o2000000;
export const O_NOFOLLOW = ARCH === "aarch64" ? 0o100000 : 0o400000;
export const O_DIRECTORY = ARCH === "aarch64" ? 0o40000 : 0o200000;

export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_EMPTY_PATH = 0x1000;
export const AT_STATX_DONT_SYNC = 0x4000;
export const STATX_BASIC_STATS = 0x7ff;
export const STATX_MNT_ID = 0x1000;

export const MS_RDONLY = 1;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;
export const RENAME_EXCHANGE = 2;

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EAGAIN = 11;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENOTDIR = 20;
export const EINVAL = 22;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ELOOP = 40;
export const ENOTCONN = 107;

const SYS_OPENAT2 = 437;
const SIZEOF_OPEN_HOW = 24;
const SIZEOF_STATX = 256;

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  // long syscall(long n, int dirfd, const char *path, struct open_how *how, size_t size)
  openat2: { name: "syscall", parameters: ["i64", "i32", "buffer", "buffer", "usize"], result: "i64" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  if (ARCH !== "x86_64" && ARCH !== "aarch64") throw new Error(`lib/fs: unsupported architecture ${ARCH}`);
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** A call's result (-1 on failure) and the errno it left (0 on success). */
export interface Outcome {
  ret: number;
  errno: number;
}

function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** Makes the call, retrying EINTR, and reads errno at once on this thread. */
function outcome(fn: () => number | bigint): Outcome {
  for (;;) {
    const ret = Number(fn());
    if (ret !== -1) return { ret, errno: 0 };
    const e = errno();
    if (e !== EINTR) return { ret, errno: e };
  }
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `s`; null for a string holding NUL (never a valid path). */
function cString(s: string): Uint8Array<ArrayBuffer> | null {
  const bytes = encoder.encode(s);
  if (bytes.includes(0)) return null;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

const EINVAL_OUTCOME: Outcome = { ret: -1, errno: EINVAL };

export function openat2(dirfd: number, path: string, flags: number, resolve: number, mode = 0): Outcome {
  const p = cString(path);
  if (!p) return EINVAL_OUTCOME;
  const how = new Uint8Array(SIZEOF_OPEN_HOW);
  const dv = new DataView(how.buffer);
  dv.setBigUint64(0, BigInt(flags), true);
  dv.setBigUint64(8, BigInt(mode), true);
  dv.setBigUint64(16, BigInt(resolve), true);
  return outcome(() => libc().openat2(BigInt(SYS_OPENAT2), dirfd, p, how, BigInt(SIZEOF_OPEN_HOW)));
}

export function mkdirat(dirfd: number, path: string, mode: number): Outcome {
  const p = cString(path);
  return p ? outcome(() => libc().mkdirat(dirfd, p, mode)) : EINVAL_OUTCOME;
}

/** What statx tells of a file. `dev` is "major:minor", as /proc/self/mountinfo writes it. */
export interface StatxResult {
  dev: string;
  ino: string;
  mode: number;
  uid: number;
  gid: number;
  /** The id of the mount the file was reached through (mountinfo's first field); 0 if unknown. */
  mountId: number;
}

export function statx(dirfd: number, path: string, flags: number): Outcome & { stat?: StatxResult } {
  const p = cString(path);
  if (!p) return EINVAL_OUTCOME;
  const buf = new Uint8Array(SIZEOF_STATX);
  const o = outcome(() => libc().statx(dirfd, p, flags, STATX_BASIC_STATS | STATX_MNT_ID, buf));
  if (o.ret !== 0) return o;
  const dv = new DataView(buf.buffer);
  const mask = dv.getUint32(0, true);
  return {
    ...o,
    stat: {
      dev: `${dv.getUint32(136, true)}:${dv.getUint32(140, true)}`,
      ino: dv.getBigUint64(32, true).toString(),
      mode: dv.getUint16(28, true),
      uid: dv.getUint32(20, true),
      gid: dv.getUint32(24, true),
      mountId: mask & STATX_MNT_ID ? Number(dv.getBigUint64(144, true)) : 0,
    },
  };
}

export function chmod(path: string, mode: number): Outcome {
  const p = cString(path);
  return p ? outcome(() => libc().chmod(p, mode)) : EINVAL_OUTCOME;
}

/** mount(2) without data; `fsType` "" passes NULL (binds and remounts need none). */
export function mount(source: string, target: string, fsType: string, flags: number): Outcome {
  const s = cString(source);
  const t = cString(target);
  const f = fsType ? cString(fsType) : null;
  if (!s || !t || (fsType && !f)) return EINVAL_OUTCOME;
  return outcome(() => libc().mount(s, t, f, BigInt(flags), null));
}

export function umount2(target: string, flags: number): Outcome {
  const t = cString(target);
  return t ? outcome(() => libc().umount2(t, flags)) : EINVAL_OUTCOME;
}

export function renameat2(
  olddir: number,
  oldPath: string,
  newdir: number,
  newPath: string,
  flags: number,
): Outcome {
  const o = cString(oldPath);
  const n = cString(newPath);
  return o && n ? outcome(() => libc().renameat2(olddir, o, newdir, n, flags)) : EINVAL_OUTCOME;
}

/** close(2); not retried on EINTR (on Linux the fd is gone either way). */
export function close(fd: number): Outcome {
  const ret = libc().close(fd);
  return ret === -1 ? { ret, errno: errno() } : { ret, errno: 0 };
}

/** "No such file or directory (errno 2)". */
export function errnoText(e: number): string {
  const p = libc().strerror(e);
  const text = p === null ? "" : new Deno.UnsafePointerView(p).getCString();
  return `${text || "error"} (errno ${e})`;
}

/**
 * statfs(2) through Deno FFI, which Deno has no API for. The symbol is declared `nonblocking`:
 * the call runs on the runtime's blocking-thread pool and returns a Promise, so a statfs that
 * waits on a stopped FUSE client never blocks the JS thread (lib/mount/stat_probe.ts bounds the
 * wait). errno is thread-local and so unobservable for such a call: a failure is explained by a
 * stat of the same path, which fails the same way for every error a probe tells apart.
 *
 * Layout: struct statfs of 64-bit Linux glibc (x86_64 and aarch64 alike): eleven 8-byte words
 * (f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_fsid, f_namelen, f_frsize,
 * f_flags) and spare room. Loading the library needs --allow-ffi; it happens on first use.
 */
import type { FsUsage } from "./stat_probe.ts";

const SIZEOF_STATFS = 120;
const SYMBOLS = {
  statfs: { parameters: ["buffer", "buffer"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS> | null {
  if (lib === undefined) {
    try {
      lib = Deno.build.os === "linux" ? Deno.dlopen("libc.so.6", SYMBOLS) : null;
    } catch {
      lib = null; // no --allow-ffi, or no glibc: callers use the child-process probe
    }
  }
  return lib;
}

/** Whether statfsCall can run here. */
export const statfsAvailable = (): boolean => libc() !== null;

export async function statfsCall(path: string): Promise<FsUsage> {
  const l = libc();
  if (!l) throw new Error("statfs through FFI is not available");
  if (path.includes("\0")) throw new Error(`statfs: path contains NUL`);
  const buf = new Uint8Array(SIZEOF_STATFS + 8);
  const rc = await l.symbols.statfs(new TextEncoder().encode(`${path}\0`), buf);
  if (rc !== 0) {
    await Deno.stat(path); // throws the error (with its errno code) that statfs met
    throw new Error(`statfs ${path} failed where stat succeeds`);
  }
  const v = new DataView(buf.buffer);
  const word = (i: number) => v.getBigUint64(i * 8, true);
  const frsize = word(9);
  return {
    blocks: word(2),
    bfree: word(3),
    bavail: word(4),
    // f_frsize is the unit of the block counts (stat -f's %S); older kernels leave it 0.
    bsize: frsize > 0n ? frsize : word(1),
    files: word(5),
    ffree: word(6),
  };
}

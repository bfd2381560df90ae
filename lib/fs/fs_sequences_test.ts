import { join } from "node:path";
import { assert, assertEquals } from "../testing/assert.ts";
import * as libc from "./libc_fs.ts";
import { linkFree, openPath, type OpenRequest } from "./fs_sequences.ts";

const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
const req = (rel: string, o: Partial<OpenRequest> = {}): OpenRequest => ({
  dirfd: libc.AT_FDCWD,
  rel,
  sameMount: false,
  createMode: -1,
  stat: false,
  ...o,
});

Deno.test("openPath: opens, creates with the exact mode, refuses links, leaks no fd", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fs_sequences_test" });
  try {
    await Deno.mkdir(join(dir, "real"));
    await Deno.symlink(join(dir, "real"), join(dir, "link"));
    await Deno.writeTextFile(join(dir, "file"), "x");
    const rel = (p: string) => join(dir, p).slice(1);
    const before = fds();
    const cases: Array<[string, Partial<OpenRequest>, number, string | undefined]> = [
      ["real", {}, 0, undefined],
      ["real", { stat: true }, 0, undefined],
      ["missing", {}, libc.ENOENT, "open"],
      ["link", {}, libc.ELOOP, "open"],
      ["link/sub", { createMode: 0o750 }, libc.ELOOP, "open"],
      ["file/sub", { createMode: 0o750 }, libc.ENOTDIR, "open"],
      ["made/a/b", { createMode: 0o705, stat: true }, 0, undefined],
    ];
    for (const [p, o, errno, failed] of cases) {
      const r = openPath(req(rel(p), o));
      assertEquals([r.errno, r.failed], [errno, failed], p);
      if (r.ret >= 0) {
        if (o.stat) assert(r.stat && (r.stat.mode & 0o170000) === 0o040000, `${p}: a directory's stat`);
        libc.close(r.ret);
      }
    }
    for (const p of ["made", "made/a", "made/a/b"]) {
      assertEquals((await Deno.stat(join(dir, p))).mode! & 0o777, 0o705, `${p}: mode, whatever the umask`);
    }
    // Beneath an open directory, ".." may not climb out of it.
    const base = openPath(req(rel("real")));
    assertEquals(openPath(req("..", { dirfd: base.ret })).errno, libc.EXDEV);
    assertEquals(openPath(req(".", { dirfd: base.ret })).ret >= 0, true);
    libc.close(base.ret);
    assertEquals(openPath(req("")).ret >= 0, true, "/ itself");
    assert(fds() <= before + 2, `fds: ${before} before, ${fds()} after (two left open on purpose)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("linkFree: links anywhere on the existing part of a path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fs_sequences_test" });
  try {
    await Deno.mkdir(join(dir, "real"));
    await Deno.symlink(join(dir, "real"), join(dir, "link"));
    const cases: Array<[string, boolean]> = [
      ["real", true],
      ["real/missing/deeper", true],
      ["link", false],
      ["link/missing", false],
      ["missing/x", true],
    ];
    for (const [p, free] of cases) assertEquals(linkFree(join(dir, p)), free, p);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

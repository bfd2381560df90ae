import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { openAbsolute, openBeneath, type OpenOptions, type PathFd, withPathFd } from "./beneath.ts";
import * as libc from "./libc_fs.ts";
import { fsCall } from "./syscalls.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `lib/fs: ${name}`, sanitizeOps: false, sanitizeResources: false, fn });

/** A tree with links, a file and a host-like "outside" directory next to the root. */
async function tree(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "beneath_test" });
  try {
    const root = join(dir, "root");
    const outside = join(dir, "outside");
    await Deno.mkdir(join(root, "a/b/c"), { recursive: true });
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(root, "a/file"), "x");
    await Deno.symlink(outside, join(root, "abs-link"));
    await Deno.symlink("a/b", join(root, "rel-link"));
    await Deno.symlink("../outside", join(root, "a/up-link"));
    await fn(root, outside);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("open beneath a root: links, dot-dot, long names, missing parts, files", async () => {
  await tree(async (rootPath) => {
    const root = await openAbsolute(rootPath);
    try {
      const long = "x".repeat(256);
      const cases: Array<[string, string, OpenOptions, number | "ok", RegExp?]> = [
        ["a plain directory", "a/b/c", {}, "ok"],
        ["the root itself", "", {}, "ok"],
        ["dot-dot that stays beneath", "a/b/../b/c", {}, "ok"],
        ["leading and doubled slashes", "/a//b/", {}, "ok"],
        ["an absolute link", "abs-link", {}, Code.FAILED_PRECONDITION, /symbolic link/],
        ["a relative link", "rel-link/c", {}, Code.FAILED_PRECONDITION, /symbolic link/],
        ["a link in the middle", "a/up-link/x", {}, Code.FAILED_PRECONDITION, /symbolic link/],
        ["dot-dot above the root", "../outside", {}, Code.FAILED_PRECONDITION, /leaves/],
        ["dot-dot above the root, deeper", "a/b/../../../outside", {}, Code.FAILED_PRECONDITION, /leaves/],
        ["a 256-byte component", `a/${long}`, {}, Code.INVALID_ARGUMENT, /longer than 255/],
        ["a 255-byte component that is missing", `a/${"y".repeat(255)}`, {}, Code.NOT_FOUND],
        ["a missing directory", "a/nope/c", {}, Code.NOT_FOUND, /does not exist/],
        ["a file", "a/file", {}, Code.FAILED_PRECONDITION, /not a directory/],
        ["a file, where that means absent", "a/file", { notDir: "not-found" }, Code.NOT_FOUND],
        ["below a file", "a/file/x", {}, Code.FAILED_PRECONDITION, /not a directory/],
        ["a NUL", "a\0b", {}, Code.INVALID_ARGUMENT, /NUL/],
      ];
      for (const [name, rel, opts, want, msg] of cases) {
        if (want === "ok") {
          const d = await openBeneath(root, rel, opts);
          const st = await d.stat();
          assert(st.isDirectory, name);
          assertEquals(st.ino, String((await Deno.stat(join(rootPath, rel))).ino), name);
          d.close();
        } else {
          await assertCodedError(() => openBeneath(root, rel, { field: "volume", ...opts }), want, msg);
        }
      }
    } finally {
      root.close();
    }
  });
});

test("absolute paths: links and magic links are refused, / opens", async () => {
  await tree(async (root) => {
    await withPathFd(
      openAbsolute("/"),
      async (d) => assertEquals((await d.stat()).ino, String((await Deno.stat("/")).ino)),
    );
    await assertCodedError(
      () => openAbsolute(join(root, "abs-link")),
      Code.FAILED_PRECONDITION,
      /symbolic link/,
    );
    await assertCodedError(() => openAbsolute("/proc/self/cwd"), Code.FAILED_PRECONDITION, /symbolic link/);
    await assertCodedError(() => openAbsolute("relative/x"), Code.INVALID_ARGUMENT, /not absolute/);
    await assertCodedError(
      () => openAbsolute(join(root, "a", "z".repeat(300)), { field: "staging_target_path" }),
      Code.INVALID_ARGUMENT,
      /staging_target_path .* longer than 255 bytes/,
    );
  });
});

test("create makes the missing directories with exactly the mode, never through a link", async () => {
  await tree(async (rootPath, outside) => {
    await withPathFd(openAbsolute(rootPath), async (root) => {
      const d = await openBeneath(root, "a/new/deeper", { create: { mode: 0o777 } });
      d.close();
      assertEquals((await Deno.stat(join(rootPath, "a/new"))).mode! & 0o7777, 0o777);
      assertEquals((await Deno.stat(join(rootPath, "a/new/deeper"))).mode! & 0o7777, 0o777);
      // Existing directories keep their mode.
      const before = (await Deno.stat(join(rootPath, "a"))).mode;
      (await openBeneath(root, "a/new2", { create: { mode: 0o700 } })).close();
      assertEquals((await Deno.stat(join(rootPath, "a"))).mode, before);
      assertEquals((await Deno.stat(join(rootPath, "a/new2"))).mode! & 0o7777, 0o700);
      await assertCodedError(
        () => openBeneath(root, "abs-link/planted", { create: { mode: 0o777 } }),
        Code.FAILED_PRECONDITION,
        /symbolic link/,
      );
      await assertCodedError(
        () => openBeneath(root, "a/file/sub", { create: { mode: 0o777 } }),
        Code.FAILED_PRECONDITION,
      );
      assertEquals([...Deno.readDirSync(outside)], [], "nothing was made outside the root");
    });
  });
});

test("chmod and stat act on the opened directory even after it was swapped for a link", async () => {
  await tree(async (rootPath, outside) => {
    await withPathFd(openAbsolute(join(rootPath, "a/b")), async (d) => {
      const ino = (await d.stat()).ino;
      // A racer exchanges the directory with a link to the outside.
      const swapped = await fsCall("renameat2", [
        libc.AT_FDCWD,
        join(rootPath, "a/b"),
        libc.AT_FDCWD,
        join(rootPath, "abs-link"),
        libc.RENAME_EXCHANGE,
      ]);
      assertEquals(swapped.errno, 0);
      assert((await Deno.lstat(join(rootPath, "a/b"))).isSymlink);
      const outsideMode = (await Deno.stat(outside)).mode;
      await d.chmod(0o701);
      assertEquals((await d.stat()).ino, ino);
      assertEquals((await Deno.stat(join(rootPath, "abs-link"))).mode! & 0o7777, 0o701);
      assertEquals((await Deno.stat(outside)).mode, outsideMode, "the link's target is untouched");
    });
  });
});

test("sameMount refuses to cross into another mount; stat gives the mount id", async () => {
  await tree(async (rootPath) => {
    const m = join(rootPath, "a/mnt");
    await Deno.mkdir(m);
    const r = await fsCall("mount", ["beneath-test", m, "tmpfs", 0]);
    assertEquals(r.errno, 0, "mount tmpfs (the tests run as root)");
    try {
      await withPathFd(openAbsolute(rootPath), async (root) => {
        const inside: PathFd = await openBeneath(root, "a/mnt");
        const st = await inside.stat();
        inside.close();
        const info = await Deno.readTextFile("/proc/self/mountinfo");
        const line = info.split("\n").find((l) => l.split(" ")[4] === m);
        assertEquals(String(st.mountId), line?.split(" ")[0]);
        await assertCodedError(
          () => openBeneath(root, "a/mnt", { sameMount: true }),
          Code.FAILED_PRECONDITION,
        );
      });
    } finally {
      await fsCall("umount2", [m, libc.MNT_DETACH]);
    }
  });
});

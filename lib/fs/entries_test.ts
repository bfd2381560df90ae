import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { openAbsolute, type PathFd } from "./beneath.ts";
import { makeDir, moveEntry, openFile, statEntry } from "./entries.ts";

const test = (name: string, fn: (root: PathFd, path: string, outside: string) => Promise<void>) =>
  Deno.test({
    name: `lib/fs entries: ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "entries_test" });
      const path = join(dir, "root");
      const outside = join(dir, "outside");
      await Deno.mkdir(join(path, "d"), { recursive: true });
      await Deno.mkdir(outside);
      await Deno.writeTextFile(join(path, "f"), "record");
      await Deno.writeTextFile(join(outside, "host.txt"), "host");
      await Deno.symlink(outside, join(path, "link"));
      await Deno.symlink(join(outside, "host.txt"), join(path, "file-link"));
      await new Deno.Command("mkfifo", { args: [join(path, "fifo")] }).output();
      const root = await openAbsolute(path);
      try {
        await fn(root, path, outside);
      } finally {
        root.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

test("statEntry tells a link from what it points at, and a missing name", async (root) => {
  const table: Array<[string, string | undefined]> = [
    ["d", "directory"],
    ["f", "file"],
    ["link", "symlink"],
    ["file-link", "symlink"],
    ["fifo", "other"],
    ["missing", undefined],
  ];
  for (const [name, kind] of table) assertEquals((await statEntry(root, name))?.kind, kind, name);
});

test("makeDir makes exactly the mode, and says false for anything already there", async (root, path) => {
  assertEquals(await makeDir(root, "new", 0o700), true);
  assertEquals((await Deno.lstat(join(path, "new"))).mode! & 0o777, 0o700);
  for (const name of ["new", "link", "f"]) assertEquals(await makeDir(root, name, 0o700), false, name);
  await assertCodedError(() => makeDir(root, "x".repeat(256), 0o700), Code.INVALID_ARGUMENT);
});

test(
  "moveEntry moves the link itself, never replaces, and says false when gone",
  async (root, path, outside) => {
    assertEquals(await moveEntry(root, "link", root, "moved"), true);
    assert((await Deno.lstat(join(path, "moved"))).isSymlink, "the link moved, not its target");
    assertEquals(await Deno.readTextFile(join(outside, "host.txt")), "host");
    await assertCodedError(() => moveEntry(root, "moved", root, "d"), Code.FAILED_PRECONDITION, /exists/i);
    assertEquals(await moveEntry(root, "gone", root, "elsewhere"), false);
  },
);

test("openFile opens a regular file only, never through a link", async (root) => {
  const f = await openFile(root, "f");
  assert(f, "the record opens");
  try {
    assertEquals(await Deno.readTextFile(f.procPath), "record");
  } finally {
    f.close();
  }
  assertEquals(await openFile(root, "missing"), undefined);
  await assertCodedError(() => openFile(root, "file-link"), Code.FAILED_PRECONDITION, /symbolic link/);
  await assertCodedError(() => openFile(root, "fifo"), Code.FAILED_PRECONDITION, /not a regular file/);
  await assertCodedError(() => openFile(root, "d"), Code.FAILED_PRECONDITION, /not a regular file/);
});

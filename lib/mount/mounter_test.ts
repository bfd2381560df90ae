import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { openAbsolute, withPathFd } from "../fs/beneath.ts";
import { fsCall } from "../fs/syscalls.ts";
import * as libc from "../fs/libc_fs.ts";
import { ExecMounter, mountAt } from "./mounter.ts";

Deno.test({
  name: "ExecMounter: binds fd to fd, read-only keeps nosuid, unmounts only the mount it was shown",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mounter_test" });
    const m = new ExecMounter();
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    const ro = join(dir, "ro");
    try {
      for (const d of [src, dst, ro]) await Deno.mkdir(d);
      assertEquals((await fsCall("mount", ["mounter-test", src, "tmpfs", 2 /* MS_NOSUID */])).errno, 0);
      await Deno.mkdir(join(src, "vol"));
      await Deno.writeTextFile(join(src, "vol/f"), "data");
      const fs = await mountAt(m, src);

      assert(fs);

      const entry = await withPathFd(
        openAbsolute(join(src, "vol")),
        (s) => withPathFd(openAbsolute(dst), (t) => m.bindFd(s, t)),
      );
      assertEquals([entry.device, entry.root, entry.mountPoint], [fs.device, "/vol", dst]);
      assertEquals(await Deno.readTextFile(join(dst, "f")), "data");

      const roEntry = await withPathFd(
        openAbsolute(dst),
        (s) => withPathFd(openAbsolute(ro), (t) => m.bindFd(s, t, { readOnly: true })),
      );
      assert(roEntry.options.includes("ro") && roEntry.options.includes("nosuid"), roEntry.options.join(","));
      const wrote = await Deno.writeTextFile(join(ro, "g"), "x").then(() => "wrote", (e) => String(e));
      assert(/read-only/i.test(wrote), wrote);
      // Shown another mount than the one at the path: nothing is unmounted.
      await assertCodedError(() => m.unmountChecked(dst, fs), Code.FAILED_PRECONDITION, /nothing unmounted/);
      assertEquals((await mountAt(m, dst))?.id, entry.id);
      for (const [p, lazy] of [[ro, true], [dst, false]] as const) {
        const e = await mountAt(m, p);
        assert(e);
        await m.unmountChecked(p, e, { lazy });
        assertEquals(await mountAt(m, p), undefined);
      }
    } finally {
      for (const p of [ro, dst, src]) await fsCall("umount2", [p, libc.MNT_DETACH]).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

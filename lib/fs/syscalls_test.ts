import { join } from "node:path";
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import * as libc from "./libc_fs.ts";
import { fsCall, stuckWorkers } from "./syscalls.ts";

Deno.test({
  name:
    "lib/fs syscalls: a call that blocks times out, the next runs on a fresh worker, the late fd is closed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "syscalls_test" });
    try {
      const fifo = join(dir, "fifo");
      const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert(mk.success);
      // Opening a FIFO for reading blocks until a writer comes: a stand-in for a stopped client.
      await assertCodedError(
        () =>
          fsCall("openat2", [libc.AT_FDCWD, fifo, libc.O_CLOEXEC, 0], { timeoutMs: 200, what: "open fifo" }),
        Code.UNAVAILABLE,
        /open fifo does not answer within 0\.2s/,
      );
      assertEquals(stuckWorkers(), 1);
      const ok = await fsCall("statx", [libc.AT_FDCWD, dir, 0]);
      assertEquals(ok.errno, 0, "a fresh worker answers while the old one is stuck");
      const fdsBefore = [...Deno.readDirSync("/proc/self/fd")].length;
      // The writer unblocks the stuck open: its fd must be closed, and the worker ended.
      const w = await Deno.open(fifo, { write: true });
      while (stuckWorkers() > 0) await new Promise((r) => setTimeout(r, 20));
      w.close();
      const fdsAfter = [...Deno.readDirSync("/proc/self/fd")].length;
      assert(fdsAfter <= fdsBefore, `no fd leaked (${fdsBefore} before, ${fdsAfter} after)`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

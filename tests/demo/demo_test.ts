// `make demo` as a user runs it: it must provision, publish and show a JuiceFS mount,
// then stop cleanly on Ctrl-C (SIGINT to its process group), leaving nothing behind.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { mountsUnder, ROOT, sh } from "../support/driver.ts";
import { readUntil } from "./output.ts";

Deno.test({
  name: "make demo provisions, publishes a JuiceFS mount, and stops cleanly on Ctrl-C",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "csi-jfs-demo-test-" });
    const proc = new Deno.Command("make", {
      args: ["-s", "-C", ROOT, "demo"],
      env: { DEMO_DIR: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
      detached: true, // its own process group, as a terminal gives it
    }).spawn();
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const shown = await readUntil(reader, "Serving until Ctrl-C.", 180_000);
      const target = `${dir}/published/demo-volume`;
      assert(shown.includes(`$ ls -l ${target}`) && shown.includes("hello.txt"), shown);
      assert(/fuse\.juicefs JuiceFS:demo/.test(shown), "the demo shows the JuiceFS mount");
      assert((await sh(`findmnt -n -o FSTYPE ${target}`)).out.includes("fuse.juicefs"));
      Deno.kill(-proc.pid, "SIGINT");
      const rest = await readUntil(reader, "stopped cleanly", 60_000);
      assert(!rest.includes("left mounted"), rest);
      await proc.status;
      assertEquals(mountsUnder(dir), []);
      assertEquals((await sh(`pgrep -f '[c]si-jfs.*${dir}' || true`)).out.trim(), "", "no process left");
    } finally {
      try {
        Deno.kill(-proc.pid, "SIGKILL");
      } catch { /* done */ }
      for (const m of mountsUnder(dir)) await sh(`umount -l ${m}`);
      await sh(`pkill -f '[c]si-jfs.*${dir}' || true`);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

// A newcomer's first Ctrl-C during `make demo`'s setup, while NodeStageVolume is starting the
// JuiceFS client, must leave nothing behind: no mount, no supervisor, no juicefs process.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { mountsUnder, ROOT, sh } from "../support/driver.ts";
import { readUntil } from "./output.ts";

async function waitForLine(file: string, re: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (re.test(await Deno.readTextFile(file).catch(() => ""))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${re} in ${file} within ${ms} ms`);
}

Deno.test({
  name: "make demo: Ctrl-C during NodeStageVolume stops everything, leaves nothing behind",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "demo-int-" });
    const proc = new Deno.Command("make", {
      args: ["-s", "-C", ROOT, "demo"],
      env: { DEMO_DIR: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
      detached: true,
    }).spawn();
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      await readUntil(reader, "[2/3] CreateVolume", 180_000);
      // The node plugin has started the volume's client and waits for it to mount: mid-stage.
      await waitForLine(`${dir}/node.log`, /started supervisor \d+ for demo/, 60_000);
      Deno.kill(-proc.pid, "SIGINT");
      const rest = await readUntil(reader, "stopped cleanly", 180_000).catch((e) => String(e));
      assert(rest.includes("stopped cleanly"), rest);
      assert(!rest.includes("left behind") && !rest.includes("Channel has been shut down"), rest);
      assert(!rest.includes("Serving until Ctrl-C"), "the setup went on after Ctrl-C");
      await proc.status;
      assertEquals(mountsUnder(dir), []);
      assertEquals(
        (await sh(`pgrep -f '[c]si-jfs.*${dir}|[j]uicefs.*${dir}' || true`)).out.trim(),
        "",
        "no process left",
      );
    } finally {
      try {
        Deno.kill(-proc.pid, "SIGKILL");
      } catch { /* done */ }
      for (const m of mountsUnder(dir)) await sh(`umount -l ${m}`);
      await sh(`pkill -f '[c]si-jfs.*${dir}' || true`);
      await sh(`pkill -f '[j]uicefs.*${dir}' || true`);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

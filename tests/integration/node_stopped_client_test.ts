// Publish, unpublish and unstage with the volume's JuiceFS client stopped (SIGSTOP): none may
// hang past the caller's deadline or keep the volume's lock (a publish now shares it with
// unstage). Binds and unmounts need no answer from the client, and the path checks run on the
// fs worker without a round trip to it (lib/mount/paths.ts), so all three succeed.
import * as grpc from "@grpc/grpc-js";
import { assertEquals } from "../../lib/testing/assert.ts";
import { codeName } from "../../lib/errors.ts";
import { call, mountCap, mountsUnder, startDriver } from "../support/driver.ts";

type Unary = (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => void;

/** The call's code name ("OK"), with a deadline of `ms`. */
function within(c: grpc.Client, method: string, req: unknown, ms: number): Promise<string> {
  return new Promise((resolve) =>
    (c as unknown as Record<string, Unary>)[method]!.call(
      c,
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + ms },
      (e) => resolve(e ? `${codeName(e.code)}: ${e.details}` : "OK"),
    )
  );
}

function clientPids(dir: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let c = "";
    try {
      c = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
    } catch { /* gone */ }
    if (/juicefs mount /.test(c) && c.includes(`${dir}/state/clients/`)) pids.push(Number(e.name));
  }
  return pids;
}

Deno.test({
  name: "a stopped JuiceFS client: publish, unpublish and unstage answer within their deadline",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The client is released later, not by the unstage: stopping a stopped client is the
    // supervisor's business (lib/supervisor), not this test's.
    const d = await startDriver({ nodeArgs: ["--client-release-delay=600s"] });
    let stopped: number[] = [];
    try {
      const v = (await call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>(
        d.controller,
        "CreateVolume",
        {
          name: "stopped",
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap()],
          parameters: {},
          secrets: d.secrets,
        },
      )).volume;
      const staging = `${d.dir}/staging/a`;
      const publish = (target: string) => ({
        volume_id: v.volume_id,
        staging_target_path: staging,
        target_path: target,
        volume_capability: mountCap(),
        volume_context: v.volume_context,
      });
      await call(d.node, "NodeStageVolume", {
        volume_id: v.volume_id,
        staging_target_path: staging,
        volume_capability: mountCap(),
        volume_context: v.volume_context,
        secrets: d.secrets,
      });
      await call(d.node, "NodePublishVolume", publish(`${d.dir}/pods/a/vol`));
      stopped = clientPids(d.dir);
      for (const pid of stopped) Deno.kill(pid, "SIGSTOP");
      // Let the kernel's attribute and entry caches of the mount expire.
      await new Promise((r) => setTimeout(r, 2000));
      const calls: Array<[string, unknown]> = [
        ["NodePublishVolume", publish(`${d.dir}/pods/b/vol`)],
        ["NodeUnpublishVolume", { volume_id: v.volume_id, target_path: `${d.dir}/pods/a/vol` }],
        ["NodeUnpublishVolume", { volume_id: v.volume_id, target_path: `${d.dir}/pods/b/vol` }],
        ["NodeUnstageVolume", { volume_id: v.volume_id, staging_target_path: staging }],
      ];
      for (const [method, req] of calls) assertEquals(await within(d.node, method, req, 8_000), "OK", method);
      assertEquals(mountsUnder(`${d.dir}/staging`), []);
      assertEquals(mountsUnder(`${d.dir}/pods`), []);
    } finally {
      for (const pid of stopped) {
        try {
          Deno.kill(pid, "SIGCONT");
        } catch { /* gone */ }
      }
      await d.stop();
    }
  },
});

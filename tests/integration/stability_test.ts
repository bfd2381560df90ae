// A stopped JuiceFS client (SIGSTOP: alive, holding its mount, answering nothing) must not
// hang the calls that touch its mount past the caller's deadline or hold the volume's lock:
// NodeGetVolumeStats reports an abnormal volume condition, a stage that needs the client is
// UNAVAILABLE, and once the client runs again (SIGCONT) everything answers as before.
import * as grpc from "@grpc/grpc-js";
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import { codeName } from "../../lib/errors.ts";
import { call, type Driver, mountCap, startDriver } from "../support/driver.ts";

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  o: grpc.CallOptions,
  cb: grpc.requestCallback<unknown>,
) => void;

/** A call with a deadline; resolves with the code name and the answer or message. */
function callWithin(client: grpc.Client, method: string, req: unknown, ms: number) {
  return new Promise<{ code: string; res: unknown; details: string }>((resolve) => {
    const fn = (client as unknown as Record<string, Unary>)[method]!;
    fn.call(
      client,
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + ms },
      (err, res) => resolve({ code: err ? codeName(err.code) : "OK", res, details: err?.details ?? "" }),
    );
  });
}

/** Pids of the juicefs processes of the node's clients (not the controller's admin mounts). */
async function nodeClientPids(d: Driver): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    // juicefs rewrites its command line into one space-separated string (its process title).
    const cmdline = (await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "")).replaceAll(
      "\0",
      " ",
    );
    if (/juicefs mount /.test(cmdline) && cmdline.includes(` ${d.dir}/state/clients/`)) {
      pids.push(Number(e.name));
    }
  }
  return pids;
}

interface Volume {
  volume_id: string;
  volume_context: Record<string, string>;
}

Deno.test({
  name: "a stopped JuiceFS client: calls answer within their deadline with the right code",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver({ nodeArgs: ["--client-release-delay=0s"] });
    let stopped: number[] = [];
    try {
      const create = async (name: string) =>
        (await call<{ volume: Volume }>(d.controller, "CreateVolume", {
          name,
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap("MULTI_NODE_MULTI_WRITER")],
          parameters: {},
          secrets: d.secrets,
        })).volume;
      const stageReq = (v: Volume, staging: string) => ({
        volume_id: v.volume_id,
        staging_target_path: staging,
        volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
        secrets: d.secrets,
        volume_context: v.volume_context,
      });
      const a = await create("stab-a");
      const b = await create("stab-b");
      const stagingA = `${d.dir}/staging/a`;
      await call(d.node, "NodeStageVolume", stageReq(a, stagingA));
      const stats = { volume_id: a.volume_id, volume_path: stagingA };
      const before = await callWithin(d.node, "NodeGetVolumeStats", stats, 10_000);
      assertEquals(before.code, "OK");

      stopped = await nodeClientPids(d);
      assert(stopped.length > 0, "the node's juicefs client runs");
      for (const pid of stopped) Deno.kill(pid, "SIGSTOP");
      console.log(`stopped juicefs ${stopped.join(",")}`);

      // Several rounds: a hung call must neither block the next one nor hold a lock.
      for (let round = 1; round <= 3; round++) {
        const s = await callWithin(d.node, "NodeGetVolumeStats", stats, 4_000);
        assertEquals(s.code, "OK", `round ${round}: ${s.details}`);
        const cond =
          (s.res as { volume_condition?: { abnormal: boolean; message: string } }).volume_condition;
        assertEquals(cond?.abnormal, true, `round ${round}`);
        assertMatch(cond?.message ?? "", /does not answer/);

        const st = await callWithin(d.node, "NodeStageVolume", stageReq(b, `${d.dir}/staging/b`), 6_000);
        assertEquals(st.code, "UNAVAILABLE", `round ${round}: ${st.details}`);
        assertMatch(st.details, /does not answer \(stopped or overloaded\)/);
      }
      console.log("3 rounds of NodeGetVolumeStats and NodeStageVolume answered within their deadlines");

      for (const pid of stopped) Deno.kill(pid, "SIGCONT");
      stopped = [];
      const after = await callWithin(d.node, "NodeGetVolumeStats", stats, 10_000);
      assertEquals(after.code, "OK");
      const cond = (after.res as { volume_condition?: { abnormal: boolean } }).volume_condition;
      assertEquals(cond?.abnormal, false, "answering again after SIGCONT");
      const st = await callWithin(d.node, "NodeStageVolume", stageReq(b, `${d.dir}/staging/b`), 30_000);
      assertEquals(st.code, "OK", st.details);
      await call(d.node, "NodeUnstageVolume", {
        volume_id: b.volume_id,
        staging_target_path: `${d.dir}/staging/b`,
      });
      await call(d.node, "NodeUnstageVolume", { volume_id: a.volume_id, staging_target_path: stagingA });
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

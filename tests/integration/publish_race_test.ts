// Issue 11 item 6 on real JuiceFS: publishes racing unstages of the same volume, hundreds of
// rounds. A publish may lose (ABORTED or FAILED_PRECONDITION), but whatever it mounts at a
// target must be the volume from the node's client, never the staging directory of the host
// left behind by the unstage; and the unpublish afterwards always succeeds.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, CallError, mountCap, mountsUnder, startDriver } from "../support/driver.ts";
import { mountEntry } from "./race_support.ts";

const ROUNDS = Number(Deno.env.get("RACE_ROUNDS") ?? 300);

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (e) {
    if (e instanceof CallError) return e.code;
    throw e;
  }
}

Deno.test({
  name: "publish races unstage of the same volume",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver({ nodeArgs: ["--client-release-delay=60s"] });
    try {
      const volume = (await call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>(
        d.controller,
        "CreateVolume",
        {
          name: "prace",
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap()],
          parameters: {},
          secrets: d.secrets,
        },
      )).volume;
      const id = volume.volume_id;
      const root = `/${id.split("/").slice(3).join("/")}`;
      const staging = `${d.dir}/staging/prace`;
      const stage = () =>
        call(d.node, "NodeStageVolume", {
          volume_id: id,
          staging_target_path: staging,
          volume_capability: mountCap(),
          volume_context: volume.volume_context,
          secrets: d.secrets,
        });
      const unstage = () =>
        call(d.node, "NodeUnstageVolume", { volume_id: id, staging_target_path: staging });
      const publish = (target: string) =>
        call(d.node, "NodePublishVolume", {
          volume_id: id,
          staging_target_path: staging,
          target_path: target,
          volume_capability: mountCap(),
          volume_context: volume.volume_context,
        });
      await stage();
      const client = mountsUnder(`${d.dir}/state/clients`).find((p) => p.endsWith("/mnt"));
      assert(client);
      const clientDev = mountEntry(client)!.device;

      const counts: Record<string, number> = {};
      const count = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
      for (let i = 0; i < ROUNDS; i++) {
        const target = `${d.dir}/pods/p-${i}/vol`;
        // Alternate who goes first, and let the second start a little later now and then.
        const pub = () => outcome(publish(target));
        const uns = () => outcome(unstage());
        const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
        let p: string, u: string;
        if (i % 2 === 0) [p, u] = await Promise.all([pub(), delay(i % 3).then(uns)]);
        else [u, p] = await Promise.all([uns(), delay(i % 3).then(pub)]);
        count(`publish ${p}`);
        count(`unstage ${u}`);
        assert(["OK", "ABORTED", "FAILED_PRECONDITION"].includes(p), `round ${i}: publish ${p}`);
        assert(["OK", "ABORTED"].includes(u), `round ${i}: unstage ${u}`);
        const e = mountEntry(target);
        if (p === "OK") {
          assert(e, `round ${i}: published, so mounted`);
          assertEquals([e.fsType, e.device, e.root], ["fuse.juicefs", clientDev, root], `round ${i}`);
        } else assertEquals(e, undefined, `round ${i}: a failed publish mounts nothing`);
        await call(d.node, "NodeUnpublishVolume", { volume_id: id, target_path: target }); // always works
        assertEquals(mountEntry(target), undefined, `round ${i}: unpublished`);
        if (u !== "OK") await unstage();
        await stage();
      }
      console.log(
        `publish race: ${ROUNDS} rounds of a publish racing an unstage: ` +
          Object.entries(counts).sort().map(([k, v]) => `${k} ${v}`).join(", "),
      );
      await unstage();
      assertEquals(mountsUnder(`${d.dir}/staging`), []);
      assertEquals(mountsUnder(`${d.dir}/pods`), []);
    } finally {
      await d.stop();
    }
  },
});

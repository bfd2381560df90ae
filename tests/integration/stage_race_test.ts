// Issue 11 item 1 on real JuiceFS: a tenant keeps exchanging its volume directory with a
// symlink to a host directory while the node stages and unstages the volume hundreds of
// times. No host directory may ever be mounted at the staging path, every refusal must be a
// clear FAILED_PRECONDITION, and every unstage must succeed (the volume is never stuck).
import { assert, assertEquals, assertMatch } from "../../lib/testing/assert.ts";
import { call, CallError, mountCap, mountsUnder, startDriver } from "../support/driver.ts";
import { mountEntry, nodePluginFds, startTenant } from "./race_support.ts";

const ROUNDS = Number(Deno.env.get("RACE_ROUNDS") ?? 300);

Deno.test({
  name: "stage races a tenant swapping its volume directory with a link to the host",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver({ nodeArgs: ["--client-release-delay=60s"] });
    let tenant: ReturnType<typeof startTenant> | undefined;
    try {
      const volume = (await call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>(
        d.controller,
        "CreateVolume",
        {
          name: "race",
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap()],
          parameters: {},
          secrets: d.secrets,
        },
      )).volume;
      const subdir = volume.volume_id.split("/").slice(3).join("/");
      const stage = (staging: string) =>
        call(d.node, "NodeStageVolume", {
          volume_id: volume.volume_id,
          staging_target_path: staging,
          volume_capability: mountCap(),
          volume_context: volume.volume_context,
          secrets: d.secrets,
        });
      const unstage = (staging: string) =>
        call(d.node, "NodeUnstageVolume", { volume_id: volume.volume_id, staging_target_path: staging });

      // A first stage starts the node's client; the tenant works through it.
      const first = `${d.dir}/staging/first`;
      await stage(first);
      const client = mountsUnder(`${d.dir}/state/clients`).find((p) => p.endsWith("/mnt"));
      assert(client, "the node's client mount");
      const clientDev = mountEntry(client)!.device;
      await unstage(first);

      const host = `${d.dir}/host-secret`;
      await Deno.mkdir(host);
      await Deno.writeTextFile(`${host}/HOST-MARKER`, "the host's");
      await Deno.symlink(host, `${client}/swap-link`);
      const fdsBefore = nodePluginFds(d.dir);
      tenant = startTenant(client, subdir, "swap-link", `${d.dir}/stop-tenant`);

      let ok = 0;
      const refusals: string[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const staging = `${d.dir}/staging/s-${i}`;
        try {
          await stage(staging);
          ok++;
          const e = mountEntry(staging);
          assert(e, `round ${i}: staged, so mounted`);
          assertEquals([e.fsType, e.device], ["fuse.juicefs", clientDev], `round ${i}: from the client`);
          assert(
            !(await Deno.stat(`${staging}/HOST-MARKER`).then(() => true, () => false)),
            `round ${i}: the host directory is mounted at the staging path`,
          );
        } catch (e) {
          if (!(e instanceof CallError)) throw e;
          assertEquals(e.code, "FAILED_PRECONDITION", `round ${i}: ${e.message}`);
          assertMatch(e.message, /symbolic link|changed while it was being mounted/);
          refusals.push(e.message);
        }
        await unstage(staging); // must always work
        assertEquals(mountEntry(staging), undefined, `round ${i}: unstaged`);
      }
      const counts = await tenant.stop();
      tenant = undefined;
      console.log(
        `stage race: ${ROUNDS} stages (${ok} staged, ${refusals.length} refused FAILED_PRECONDITION), ` +
          `${counts.swaps} swaps by the tenant (${counts.failed} failed), ` +
          `${refusals.filter((m) => /changed while/.test(m)).length} caught after the bind`,
      );
      const fdsAfter = nodePluginFds(d.dir);
      console.log(`node plugin fds: ${fdsBefore} before, ${fdsAfter} after`);
      assert(fdsAfter < fdsBefore + 16, "no fd leaks per stage");
      assert(counts.swaps > ROUNDS, "the tenant raced throughout");
      assert(refusals.length > 0, "the race was met at least once");
      assertEquals(mountsUnder(`${d.dir}/staging`), []);
    } finally {
      await tenant?.stop().catch(() => {});
      await d.stop();
    }
  },
});

Deno.test({
  name: "a staged volume whose directory the tenant renamed still unstages, after a restart too",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver({ nodeArgs: ["--client-release-delay=60s"] });
    try {
      const volume = (await call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>(
        d.controller,
        "CreateVolume",
        {
          name: "renamed",
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap()],
          parameters: {},
          secrets: d.secrets,
        },
      )).volume;
      const subdir = volume.volume_id.split("/").slice(3).join("/");
      const staging = `${d.dir}/staging/renamed`;
      await call(d.node, "NodeStageVolume", {
        volume_id: volume.volume_id,
        staging_target_path: staging,
        volume_capability: mountCap(),
        volume_context: volume.volume_context,
        secrets: d.secrets,
      });
      const client = mountsUnder(`${d.dir}/state/clients`).find((p) => p.endsWith("/mnt"))!;
      await Deno.rename(`${client}/${subdir}`, `${client}/${subdir}-moved`);
      assertEquals(mountEntry(staging)?.root, `/${subdir}-moved`, "the mount table shows the new name");
      await d.restartNode();
      await call(d.node, "NodeUnstageVolume", { volume_id: volume.volume_id, staging_target_path: staging });
      assertEquals(mountEntry(staging), undefined);
    } finally {
      await d.stop();
    }
  },
});

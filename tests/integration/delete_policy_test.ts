// onDelete on real JuiceFS: delete removes the directory, retain keeps it, archive moves it.
import { assertEquals } from "../../lib/testing/assert.ts";
import { call, mountCap, startDriver } from "../support/driver.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test({
  name: "onDelete: delete, retain and archive do what they say",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    try {
      const ids: Record<string, string> = {};
      for (const policy of ["delete", "retain", "archive"]) {
        const res = await call<{ volume: { volume_id: string } }>(d.controller, "CreateVolume", {
          name: `pv-${policy}`,
          capacity_range: { required_bytes: String(1 << 30) },
          volume_capabilities: [mountCap()],
          parameters: {
            onDelete: policy,
            pathPattern: "${pvc.namespace}/${pvc.name}",
            "csi.storage.k8s.io/pvc/namespace": "team",
            "csi.storage.k8s.io/pvc/name": policy,
          },
          secrets: d.secrets,
        });
        ids[policy] = res.volume.volume_id;
      }
      // The controller's own mount of the file system shows the result.
      const root = (await Array.fromAsync(Deno.readDir(`${d.dir}/state/controller/clients`)))[0]?.name;
      const fs = `${d.dir}/state/controller/clients/${root}/mnt`;
      for (const p of ["delete", "retain", "archive"]) {
        await Deno.writeTextFile(`${fs}/team/${p}/data.txt`, p);
      }
      for (const p of ["delete", "retain", "archive"]) {
        await call(d.controller, "DeleteVolume", { volume_id: ids[p], secrets: d.secrets });
        await call(d.controller, "DeleteVolume", { volume_id: ids[p], secrets: d.secrets });
      }
      assertEquals(await exists(`${fs}/team/delete`), false);
      assertEquals(await Deno.readTextFile(`${fs}/team/retain/data.txt`), "retain");
      assertEquals(await exists(`${fs}/team/archive`), false);
      const archived = (await Array.fromAsync(Deno.readDir(`${fs}/.csi-jfs/archive`))).map((e) => e.name);
      assertEquals(archived.length, 1);
      assertEquals(archived[0]?.startsWith("team_archive-"), true);
      assertEquals(await Deno.readTextFile(`${fs}/.csi-jfs/archive/${archived[0]}/data.txt`), "archive");
    } finally {
      await d.stop();
    }
  },
});

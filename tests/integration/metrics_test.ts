// The metrics endpoints of a real controller and node plugin on real JuiceFS, scraped over
// HTTP and parsed by the reference Prometheus parser (hack/tools/promparse, expfmt).
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, codeOfCall, mountCap, sh, startDriver, waitFor } from "../support/driver.ts";
import { createVolume, freePort, promparse, publishVolume, stageVolume } from "./ops_support.ts";

async function scrape(port: number, path = "/metrics"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  assertEquals(res.status, 200, path);
  return await res.text();
}

Deno.test({
  name: "metrics: controller, node and JuiceFS client endpoints parse and count what happened",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const [cPort, nPort] = [freePort(), freePort()];
    const d = await startDriver({
      controllerArgs: [`--metrics-address=127.0.0.1:${cPort}`],
      nodeArgs: [`--metrics-address=127.0.0.1:${nPort}`],
    });
    try {
      const v = await createVolume(d, "pv-metrics");
      const staging = await stageVolume(d, v, "pv-metrics");
      await publishVolume(d, v, "pv-metrics", "uid-1");
      // A publish from a staging path that holds nothing: FAILED_PRECONDITION, counted by reason.
      const bad = call(d.node, "NodePublishVolume", {
        volume_id: v.volume_id,
        staging_target_path: `${d.dir}/not-staged`,
        target_path: `${d.dir}/kubelet/pods/uid-2/volumes/kubernetes.io~csi/pv-metrics/mount`,
        volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
      });
      const code = await codeOfCall(bad);

      await t.step("controller /metrics", async () => {
        const text = await scrape(cPort);
        const f = await promparse(text);
        assertEquals(f.get("csi_jfs_csi_calls_total")?.type, "COUNTER");
        assertEquals(f.get("csi_jfs_csi_call_duration_seconds")?.type, "HISTOGRAM");
        assertEquals(f.get("csi_jfs_controller_volumes_created_total")?.type, "COUNTER");
        assertEquals(f.get("csi_jfs_controller_admin_mounts")?.type, "GAUGE");
        assert(text.includes('csi_jfs_csi_calls_total{method="CreateVolume",code="OK"} 1'), text);
        assert(text.includes('csi_jfs_controller_quota_operations_total{operation="set",code="OK"} 1'), text);
        console.log(`controller: ${f.size} families`);
      });

      await t.step("node /metrics", async () => {
        const text = await scrape(nPort);
        const f = await promparse(text);
        for (const name of ["csi_jfs_node_clients", "csi_jfs_node_mounts", "csi_jfs_node_client_restarts"]) {
          assertEquals(f.get(name)?.type, "GAUGE", name);
        }
        assert(text.includes('csi_jfs_node_clients{mode="process"} 1'), text);
        assert(text.includes('csi_jfs_node_mounts{kind="staging",health="healthy"} 1'), text);
        assert(text.includes('csi_jfs_node_mounts{kind="publish",health="healthy"} 1'), text);
        assert(
          text.includes(`csi_jfs_node_volume_failures_total{operation="publish",reason="${code}"} 1`),
          text,
        );
        assert(
          /csi_jfs_node_client_restarts\{client="itfs-[0-9a-f]{12}",fs="itfs",kind="supervisor"\} 0/.test(
            text,
          ),
        );
        console.log(`node: ${f.size} families; the bad publish was ${code}`);
      });

      await t.step("a juicefs client killed under its supervisor counts as one restart", async () => {
        const pids = (await sh(`pgrep -f '[j]uicefs.*mount.*${d.dir}/state/clients/'`)).out.trim();
        assert(pids !== "", "no juicefs client");
        await sh(`kill -9 ${pids.split("\n").join(" ")}`);
        const re = /csi_jfs_node_client_restarts\{client="itfs-[0-9a-f]{12}",fs="itfs",kind="supervisor"\} 1/;
        await waitFor(
          "the supervisor's restart in the metrics",
          60_000,
          async () => re.test(await scrape(nPort)),
        );
        await waitFor("the client serving again", 60_000, async () => (await sh(`ls ${staging}`)).code === 0);
      });

      await t.step(
        "node /metrics/juicefs: the client's own metrics, labelled with the file system",
        async () => {
          const text = await scrape(nPort, "/metrics/juicefs");
          const f = await promparse(text);
          const juicefs = [...f.keys()].filter((n) => n.startsWith("juicefs_"));
          assert(juicefs.length > 10, `only ${juicefs.length} juicefs families`);
          assert(text.includes('vol_name="itfs"'), "no vol_name label");
          console.log(`juicefs client: ${juicefs.length} families`);
        },
      );
    } finally {
      await d.stop();
    }
  },
});

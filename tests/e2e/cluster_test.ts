// The test cluster itself, and the driver's registration with its real kubelet.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { DRIVER, getJson, NODE_NAME, waitFor } from "./kube.ts";

Deno.test("the node is Ready", async () => {
  const node = await getJson(["get", "node", NODE_NAME]);
  const ready = node.status.conditions.find((c: { type: string }) => c.type === "Ready");
  assertEquals(ready?.status, "True", `node ${NODE_NAME} Ready condition: ${JSON.stringify(ready)}`);
});

Deno.test({
  name: "CSINode lists the csi-jfs driver, registered with the real kubelet by the registrar sidecar",
  ignore: Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1",
  fn: async () => {
    const drivers = await waitFor("the driver on the CSINode", async () => {
      const n = await getJson(["get", "csinode", NODE_NAME]);
      const d = (n.spec.drivers ?? []) as { name: string; nodeID: string }[];
      return d.some((x) => x.name === DRIVER) ? d : undefined;
    }, 120_000);
    const ours = drivers.find((x) => x.name === DRIVER);
    assert(ours, `CSINode ${NODE_NAME} drivers: ${JSON.stringify(drivers)}`);
    assertEquals(ours.nodeID, NODE_NAME);
  },
});

import type * as grpc from "@grpc/grpc-js";
import { assert, assertEquals } from "../lib/testing/assert.ts";
import { failedPrecondition } from "../lib/errors.ts";
import { unary } from "../lib/csi/unary.ts";
import { FakeKube } from "../lib/kube/fake_kube.ts";
import { EventRecorder } from "../lib/kube/events.ts";
import { FakeMounter } from "../lib/mount/fake_mounter.ts";
import { parseConfig } from "../lib/config.ts";
import { startNodeOperations } from "./operations.ts";

function answer<Req>(handler: grpc.handleUnaryCall<Req, unknown>, request: Req): Promise<unknown> {
  return new Promise((resolve) => {
    handler(
      { request } as unknown as grpc.ServerUnaryCall<Req, unknown>,
      ((err: unknown) => resolve(err)) as never,
    );
  });
}

Deno.test({
  name: "node operations: a failed publish through the gRPC adapter is an Event and a metric",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const parsed = parseConfig(["--mode=node", "--metrics-address=127.0.0.1:0"], () => "n1");
    assert(parsed.kind === "run");
    const kube = new FakeKube();
    const mounter = new FakeMounter();
    const ops = await startNodeOperations(parsed.config, {
      backend: {
        list: () => Promise.resolve([]),
        ensure: () => Promise.reject(new Error("unused")),
        release: () => Promise.resolve(),
      },
      mounter,
      kube,
      events: new EventRecorder(kube, { component: "csi-jfs-node", host: "n1" }),
    });
    try {
      const publish = unary("NodePublishVolume", () => Promise.reject(failedPrecondition("not staged")));
      await answer(publish, {
        volume_id: "fs@pv-9",
        volume_context: {
          "csi.storage.k8s.io/pod.name": "web-1",
          "csi.storage.k8s.io/pod.namespace": "shop",
        },
      });
      await new Promise((r) => setTimeout(r, 0));
      assertEquals(kube.events.map((e) => [e.involvedObject.namespace, e.involvedObject.name, e.reason]), [
        ["shop", "web-1", "PublishVolumeFailed"],
      ]);
      const text = await (await fetch(`http://127.0.0.1:${ops.metricsPort}/metrics`)).text();
      assert(
        text.includes(
          'csi_jfs_node_volume_failures_total{operation="publish",reason="FAILED_PRECONDITION"} 1',
        ),
      );
      assert(text.includes('csi_jfs_node_clients{mode="process"} 0'), text);
      const juicefs = await fetch(`http://127.0.0.1:${ops.metricsPort}/metrics/juicefs`);
      assertEquals([juicefs.status, await juicefs.text()], [200, ""]);
    } finally {
      await ops.stop();
    }
  },
});

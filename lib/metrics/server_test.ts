import { assertEquals } from "../testing/assert.ts";
import { throws } from "node:assert/strict";
import { parseListenAddress } from "./address.ts";
import { serveMetrics } from "./server.ts";
import { callDone } from "./csi_calls.ts";
import { admissionDone } from "./webhook_metrics.ts";

Deno.test("parseListenAddress", async (t) => {
  const good: [string, string, number][] = [
    ["0.0.0.0:9810", "0.0.0.0", 9810],
    [":9810", "0.0.0.0", 9810],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["[::1]:9810", "::1", 9810],
    ["localhost:80", "localhost", 80],
  ];
  for (const [text, hostname, port] of good) {
    await t.step(text, () => assertEquals(parseListenAddress(text), { hostname, port }));
  }
  for (const bad of ["9810", "host", "a:b", "h:70000", "http://x:1", ""]) {
    await t.step(`bad ${bad}`, () => throws(() => parseListenAddress(bad)));
  }
});

Deno.test("serveMetrics: /metrics has the CSI call metrics, other paths 404", async () => {
  callDone({ method: "Probe", code: "OK", seconds: 0.002, request: {} });
  admissionDone("injected");
  const server = await serveMetrics("127.0.0.1:0", {
    "/metrics/extra": () => Promise.resolve({ body: "x 1\n", contentType: "text/plain" }),
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    const text = await res.text();
    assertEquals(res.headers.get("content-type")?.startsWith("text/plain"), true);
    assertEquals(text.includes('csi_jfs_csi_calls_total{method="Probe",code="OK"}'), true);
    assertEquals(
      text.includes('csi_jfs_csi_call_duration_seconds_bucket{le="0.005",method="Probe"} 1'),
      true,
    );
    assertEquals(text.includes('csi_jfs_webhook_admissions_total{result="injected"} 1'), true);
    assertEquals(text.includes("process_resident_memory_bytes"), true);
    assertEquals(await (await fetch(`http://127.0.0.1:${server.port}/metrics/extra`)).text(), "x 1\n");
    const missing = await fetch(`http://127.0.0.1:${server.port}/nope`);
    await missing.body?.cancel();
    assertEquals(missing.status, 404);
  } finally {
    await server.stop();
  }
});

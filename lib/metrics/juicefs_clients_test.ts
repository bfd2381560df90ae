import { assertEquals } from "../testing/assert.ts";
import { juicefsMetricsRoute, mergeExpositions } from "./juicefs_clients.ts";
import { fsOfKey, supervisorRestarts } from "./client_facts.ts";

const a = `# HELP juicefs_used_space Total used space in bytes.
# TYPE juicefs_used_space gauge
juicefs_used_space{mp="/a",vol_name="fa"} 10
# HELP juicefs_fuse_ops_durations_histogram_seconds Operations latency.
# TYPE juicefs_fuse_ops_durations_histogram_seconds histogram
juicefs_fuse_ops_durations_histogram_seconds_bucket{mp="/a",vol_name="fa",le="+Inf"} 3
juicefs_fuse_ops_durations_histogram_seconds_sum{mp="/a",vol_name="fa"} 0.5
juicefs_fuse_ops_durations_histogram_seconds_count{mp="/a",vol_name="fa"} 3
`;
const b = a.replaceAll('"/a"', '"/b"').replaceAll('"fa"', '"fb"');

Deno.test("mergeExpositions: one HELP and TYPE per family, samples of every client", () => {
  const merged = mergeExpositions([a, b, ""]);
  const lines = merged.trim().split("\n");
  assertEquals(lines.filter((l) => l.startsWith("# TYPE")).length, 2);
  assertEquals(lines.filter((l) => l.startsWith("juicefs_used_space{")).length, 2);
  // The histogram's samples stay after its TYPE line, from both clients.
  const type = lines.indexOf("# TYPE juicefs_fuse_ops_durations_histogram_seconds histogram");
  assertEquals(lines.slice(type + 1).filter((l) => l.includes("_bucket")).length, 2);
  assertEquals(mergeExpositions([]), "");
});

Deno.test("juicefsMetricsRoute: skips clients without an address or unreachable", async () => {
  const route = juicefsMetricsRoute(
    () =>
      Promise.resolve([
        { key: "fa-000000000001", mountPath: "/s/a" },
        { key: "fb-000000000002", mountPath: "/s/b" },
        { key: "fc-000000000003", mountPath: "/s/c" },
      ]),
    (url) => url.includes(":1/") ? Promise.resolve(a) : Promise.reject(new Error("refused")),
    (path) => Promise.resolve(path === "/s/a" ? "127.0.0.1:1" : path === "/s/b" ? "127.0.0.1:2" : undefined),
  );
  const { body } = await route();
  assertEquals(body.includes('vol_name="fa"'), true);
  assertEquals(body.includes('vol_name="fb"'), false);
});

Deno.test("client facts: fs of a key, supervisor restarts from its log", async () => {
  assertEquals(fsOfKey("my-fs-0123456789ab"), "my-fs");
  assertEquals(fsOfKey("odd"), "odd");
  const dir = await Deno.makeTempDir();
  const log = `${dir}/supervisor.log`;
  assertEquals(await supervisorRestarts(log), 0);
  await Deno.writeTextFile(
    log,
    [
      'x [INF] supervisor: juicefs client 10 started for "fs" at "/m" (restart 0, fresh)',
      "x [WRN] supervisor: juicefs client 10 exited",
      'x [INF] supervisor: juicefs client 11 started for "fs" at "/m" (restart 1, resumed)',
      'x [INF] supervisor: juicefs client 12 started for "fs" at "/m" (restart 2, resumed)',
    ].join("\n"),
  );
  assertEquals(await supervisorRestarts(log), 2);
  await Deno.remove(dir, { recursive: true });
});

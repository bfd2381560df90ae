import { assertEquals } from "../testing/assert.ts";
import { forgetSecrets, registerSecrets } from "../redact.ts";
import { summarizeLog } from "./supervisor_log.ts";

Deno.test("summarizeLog: juicefs's own error lines, prefix stripped, redacted; exits counted", () => {
  forgetSecrets();
  registerSecrets(["s3cr3t-value"]);
  const s = summarizeLog([
    "2026-12-01T00:00:00.000Z [INF] csi-jfs·supervisor: juicefs client 7 started for fs at /m (restart 0, new mount)",
    "2026-12-01 00:00:00.100 +00:00 [INF] csi-jfs·supervisor: juicefs: <FATAL>: load setting: auth s3cr3t-value refused",
    "2026-12-01T00:00:00.200Z [WRN] csi-jfs·supervisor: juicefs client 7 exited (code 1, signal none) after 9ms",
    '{"message":"juicefs: <ERROR>: dial tcp: connection refused"}',
  ].join("\n"));
  assertEquals(s.clientExits, 1);
  assertEquals(
    s.tail,
    "juicefs: <FATAL>: load setting: auth *** refused | juicefs: <ERROR>: dial tcp: connection refused",
  );
});

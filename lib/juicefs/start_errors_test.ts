import { assertEquals } from "../testing/assert.ts";
import { isUnreachableMeta } from "./start_errors.ts";

Deno.test("start errors: the lines that mean a client will not mount by waiting", () => {
  const table: [string, boolean][] = [
    [
      "2026-12-01 [INF] csi-jfs·supervisor: juicefs: 2026/12/01 20:36:34 juicefs[2039] <WARNING>: parse info: dial tcp 127.0.0.1:1: connect: connection refused [checkServerConfig@redis.go:3667]",
      true,
    ],
    ["juicefs[1] <ERROR>: dial tcp: lookup redis.nowhere on 127.0.0.53:53: no such host", true],
    ["juicefs[1] <FATAL>: Meta: NOAUTH Authentication required.", true],
    ["juicefs[1] <WARNING>: WRONGPASS invalid username-password pair", true],
    ["juicefs[1] <INFO>: Meta address: redis://127.0.0.1:1/1", false],
    // A warning about something else, and the cause without juicefs's level, are not enough.
    ["juicefs[1] <WARNING>: The latency to database is too high: 120ms", false],
    ["curl: (7) connect: connection refused", false],
  ];
  for (const [line, want] of table) assertEquals(isUnreachableMeta(line), want, line);
});

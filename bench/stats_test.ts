import { assertEquals } from "../lib/testing/assert.ts";
import { judge, quantile, summarize } from "./stats.ts";

Deno.test("quantile interpolates between ranks", () => {
  const table: [number[], number, number][] = [
    [[1, 2, 3, 4, 5], 0.5, 3],
    [[1, 2, 3, 4], 0.5, 2.5],
    [[10], 0.95, 10],
    [[0, 100], 0.95, 95],
  ];
  for (const [xs, q, want] of table) assertEquals(quantile(xs, q), want, `${xs} q=${q}`);
});

Deno.test("summarize sorts, so sample order does not matter", () => {
  assertEquals(summarize([5, 1, 3]), { runs: 3, p50: 3, p95: 4.8, mean: 3 });
});

Deno.test("judge: PASS at or under the limit, MISS over it; '-' without a target", () => {
  assertEquals(judge(2, 3), "PASS");
  assertEquals(judge(3, 3), "PASS");
  assertEquals(judge(3.1, 3), "MISS");
  assertEquals(judge(0.98, 0.97, true), "PASS");
  assertEquals(judge(5, undefined), "-");
  assertEquals(judge(NaN, 1), "-");
});

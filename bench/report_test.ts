import { assertEquals, assertMatch } from "../lib/testing/assert.ts";
import { renderTable, type Row, verdict } from "./report.ts";

Deno.test("verdict: against the floor, an absolute ceiling, or a floor to stay above", () => {
  const table: [Row, string][] = [
    [{ name: "a", unit: "ms", value: 3.5, floor: 2, target: { over: 2, what: "" } }, "PASS"],
    [{ name: "a", unit: "ms", value: 4.5, floor: 2, target: { over: 2, what: "" } }, "MISS"],
    [{ name: "a", unit: "ms", value: 4.5, target: { over: 2, what: "" } }, "-"],
    [{ name: "b", unit: "ms", value: 40, target: { max: 50, what: "" } }, "PASS"],
    [{ name: "c", unit: "ratio", value: 0.9, target: { min: 0.97, what: "" } }, "MISS"],
    [{ name: "d", unit: "MiB", value: 1 }, "-"],
    [{ name: "e", unit: "ms", value: 1200, floor: 1000, target: { ratio: 1.3, what: "" } }, "PASS"],
    [{ name: "e", unit: "ms", value: 1400, floor: 1000, target: { ratio: 1.3, what: "" } }, "MISS"],
  ];
  for (const [row, want] of table) assertEquals(verdict(row), want, JSON.stringify(row));
});

Deno.test("renderTable lines up the columns and prints the ratio to the floor", () => {
  const out = renderTable([{
    name: "warm publish",
    unit: "ms",
    value: 3,
    p95: 5,
    runs: 100,
    floor: 2,
    ratio: 1.5,
    target: { over: 2, what: "≤ floor + 2 ms" },
  }]);
  assertMatch(out, /warm publish\s+3 ms\s+5\s+100\s+2\s+1.5x\s+≤ floor \+ 2 ms\s+PASS/);
});

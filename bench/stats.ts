/** Order statistics and target judgement for `make bench`; pure, so it is table-tested. */

export interface Summary {
  runs: number;
  p50: number;
  p95: number;
  mean: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / (sorted.length || 1);
  return { runs: sorted.length, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), mean };
}

/** A target is judged on the median; a missed one is reported, never fatal. */
export type Verdict = "PASS" | "MISS" | "-";

export function judge(value: number, limit: number | undefined, higherIsBetter = false): Verdict {
  if (limit === undefined || !Number.isFinite(value)) return "-";
  return (higherIsBetter ? value >= limit : value <= limit) ? "PASS" : "MISS";
}

export const round = (x: number, digits = 1): number => Number.isFinite(x) ? Number(x.toFixed(digits)) : x;

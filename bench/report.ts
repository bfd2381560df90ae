/** The benchmark's table on stdout and its JSON under bench/results/, with the machine's facts. */
import { judge, round, type Verdict } from "./stats.ts";
import { sh } from "./exec.ts";

/**
 * A target: at most `over` ms above the floor's median, at most `ratio` times the floor, or an
 * absolute `max` / `min`.
 */
export interface Target {
  over?: number;
  ratio?: number;
  max?: number;
  min?: number;
  what: string;
}

export interface Row {
  name: string;
  unit: string;
  /** The median for timed rows; the figure itself otherwise. */
  value: number;
  p95?: number;
  runs?: number;
  floor?: number;
  ratio?: number;
  target?: Target;
}

export function verdict(row: Row): Verdict {
  const t = row.target;
  if (!t) return "-";
  if (t.over !== undefined) return row.floor === undefined ? "-" : judge(row.value, row.floor + t.over);
  if (t.ratio !== undefined) return row.floor === undefined ? "-" : judge(row.value, row.floor * t.ratio);
  if (t.min !== undefined) return judge(row.value, t.min, true);
  return judge(row.value, t.max);
}

const cell = (x: number | undefined, digits = 1) => x === undefined ? "" : String(round(x, digits));

export function renderTable(rows: Row[]): string {
  const head = ["measure", "median", "p95", "runs", "floor", "ratio", "target", ""];
  const body = rows.map((r) => [
    r.name,
    `${cell(r.value, r.unit === "ratio" ? 3 : 1)} ${r.unit}`,
    cell(r.p95),
    r.runs === undefined ? "" : String(r.runs),
    cell(r.floor),
    r.ratio === undefined ? "" : `${round(r.ratio, 2)}x`,
    r.target?.what ?? "",
    verdict(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

async function machine(): Promise<Record<string, string>> {
  const q = (cmd: string) => sh(cmd).catch(() => "unknown");
  const root = new URL("..", import.meta.url).pathname;
  return {
    commit: await q(`cd ${root} && git describe --always --dirty`),
    load: await q("cut -d' ' -f1-3 /proc/loadavg"),
    cores: String(navigator.hardwareConcurrency),
    kernel: await q("uname -r"),
    cpu: await q("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
    memory: await q("grep MemTotal /proc/meminfo | awk '{print $2\" kB\"}'"),
    deno: Deno.version.deno,
    juicefs: await q(`${Deno.env.get("CSI_JFS_CACHE") ?? "/var/cache/csi-jfs"}/bin/juicefs version`),
  };
}

export async function printTable(
  rows: Row[],
  settings: Record<string, number | string>,
  kind = "node",
): Promise<void> {
  console.log(renderTable(rows));
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}${kind}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  const data = {
    at: new Date().toISOString(),
    machine: await machine(),
    settings,
    rows: rows.map((r) => ({ ...r, verdict: verdict(r) })),
  };
  await Deno.writeTextFile(file, JSON.stringify(data, null, 2) + "\n");
  console.log(`\nwritten to ${file}`);
}

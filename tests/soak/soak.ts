// `make soak`: the hostile load against a real controller and node plugin (process mode, the
// embedded sqlite3 file system) for SOAK_SECONDS (default 600). Prints the codes it got and the
// RSS of every driver process at start and end; fails when a driver died, stopped serving, or
// something changed outside the test's directory.
import * as grpc from "@grpc/grpc-js";
import { codeName } from "../../lib/errors.ts";
import { call, type Driver, mountCap, startDriver } from "../support/driver.ts";
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { type LoadOptions, type LoadReport, rssKb } from "./load.ts";

/** One call that must answer within `ms` (a crashed server must not hang the soak). */
function callWithin(client: grpc.Client, method: string, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method]!;
    fn.call(client, {}, new grpc.Metadata(), { deadline: Date.now() + ms }, (err, res) => {
      if (err) reject(new Error(`${codeName(err.code)}: ${err.details}`));
      else resolve(res);
    });
  });
}
type Unary = (
  req: unknown,
  md: grpc.Metadata,
  o: grpc.CallOptions,
  cb: grpc.requestCallback<unknown>,
) => void;

export interface SoakResult {
  report: LoadReport;
  rssStart: Record<string, number | undefined>;
  rssEnd: Record<string, number | undefined>;
  /** Problems found after the load; empty when the drivers survived it cleanly. */
  problems: string[];
}

/** Pids of the driver's own processes (controller, node, supervisors), named by role. */
async function driverProcesses(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const argv = (await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "")).split("\0");
    if (!argv.some((a) => a.includes(dir)) || !argv.some((a) => a.endsWith("main.ts"))) continue;
    const mode = argv.find((a) => a.startsWith("--mode="))?.slice(7) ?? "?";
    out[`${mode}[${e.name}]`] = Number(e.name);
  }
  return out;
}

async function rssOf(procs: Record<string, number>): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const [name, pid] of Object.entries(procs)) out[name] = await rssKb(pid);
  return out;
}

/**
 * Mounts outside `dir` that show one of the test's own JuiceFS clients (same device as a client
 * mounted under `dir`). Other mounts on the machine come and go with other work and are not ours.
 */
async function ourMountsOutside(dir: string): Promise<string[]> {
  const entries = parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"));
  const ours = new Set(entries.filter((e) => e.mountPoint.startsWith(dir)).map((e) => e.device));
  return entries.filter((e) => ours.has(e.device) && !e.mountPoint.startsWith(dir)).map((e) => e.mountPoint);
}

const ROUND_SECONDS = 60;

/** The load in rounds of at most a minute, each in a fresh process (tests/soak/load_round.ts). */
async function runRounds(o: LoadOptions): Promise<LoadReport> {
  const total: LoadReport = { requests: 0, rawSessions: 0, codes: {} };
  const until = Date.now() + o.seconds * 1000;
  const max = o.maxRequests ?? Number.MAX_SAFE_INTEGER;
  for (let round = 0; Date.now() < until - 1000 && total.requests < max; round++) {
    const opts: LoadOptions = {
      ...o,
      seconds: Math.min(ROUND_SECONDS, (until - Date.now()) / 1000),
      maxRequests: max - total.requests,
      seed: (o.seed ?? 1) + round,
    };
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./load_round.ts", import.meta.url).pathname, JSON.stringify(opts)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const last = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    if (!out.success || !last.startsWith("{")) {
      throw new Error(`load round ${round} failed (exit ${out.code})`);
    }
    const r = JSON.parse(last) as LoadReport;
    total.requests += r.requests;
    total.rawSessions += r.rawSessions;
    for (const [code, n] of Object.entries(r.codes)) total.codes[code] = (total.codes[code] ?? 0) + n;
  }
  return total;
}

/** SOAK_RAW_RATE, SOAK_ABANDON_RATE, SOAK_SHORT_DEADLINES=0: to isolate what a crash needs. */
function mixFromEnv(): { rawRate?: number; abandonRate?: number; shortDeadlines?: boolean } {
  const num = (name: string) => Deno.env.get(name) === undefined ? undefined : Number(Deno.env.get(name));
  const raw = num("SOAK_RAW_RATE");
  const abandon = num("SOAK_ABANDON_RATE");
  return {
    ...(raw !== undefined ? { rawRate: raw } : {}),
    ...(abandon !== undefined ? { abandonRate: abandon } : {}),
    ...(Deno.env.get("SOAK_SHORT_DEADLINES") === "0" ? { shortDeadlines: false } : {}),
  };
}

/** Runs the load for `seconds` (or `maxRequests`) against a fresh driver and checks it afterwards. */
export async function soak(seconds: number, maxRequests?: number): Promise<SoakResult> {
  const driver: Driver = await startDriver({ nodeArgs: ["--client-release-delay=0s"] });
  const problems: string[] = [];
  try {
    // A real volume, so well-formed requests among the garbage reach the slow paths.
    await call(driver.controller, "CreateVolume", {
      name: "soak-0",
      capacity_range: { required_bytes: String(1 << 30) },
      volume_capabilities: [mountCap("MULTI_NODE_MULTI_WRITER")],
      parameters: {},
      secrets: driver.secrets,
    });
    const procsStart = await driverProcesses(driver.dir);
    const rssStart = await rssOf(procsStart);
    const report = await runRounds({
      controllerSocket: `${driver.dir}/c.sock`,
      nodeSocket: `${driver.dir}/n.sock`,
      secrets: driver.secrets,
      workDir: `${driver.dir}/work`,
      seconds,
      ...(maxRequests ? { maxRequests } : {}),
      ...mixFromEnv(),
    });
    // The crash seen in the field came about a minute after the callers left; wait a little.
    await new Promise((r) => setTimeout(r, Math.min(60, seconds / 4) * 1000));
    const rssEnd = await rssOf(procsStart);
    for (const [name, kb] of Object.entries(rssEnd)) {
      if (kb === undefined && !name.startsWith("mount-supervisor")) problems.push(`${name} is gone`);
    }
    for (const [service, method] of [["controller", "ControllerGetCapabilities"], ["node", "NodeGetInfo"]]) {
      const client = service === "controller" ? driver.controller : driver.node;
      await callWithin(client, method!, 10_000).catch((e) =>
        problems.push(`${service} no longer serves: ${e}`)
      );
    }
    for (const m of await ourMountsOutside(driver.dir)) {
      problems.push(`a mount outside the test directory: ${m}`);
    }
    return { report, rssStart, rssEnd, problems };
  } finally {
    const log = await driver.logs().catch(() => "");
    // The runtime's own last words (not juicefs's "<FATAL>" lines, which the load provokes on purpose).
    const crash =
      /Assertion .* failed|Segmentation fault|free\(\): invalid|double free|panicked at|core dumped/;
    const fatal = log.split("\n").filter((l) => crash.test(l)).map((l) => l.slice(0, 300));
    if (fatal.length > 0) console.error(`driver log:\n${fatal.slice(-10).join("\n")}`);
    await driver.stop();
  }
}

export function printResult(r: SoakResult): void {
  console.log(`requests: ${r.report.requests} (raw HTTP/2 sessions: ${r.report.rawSessions})`);
  const codes = Object.entries(r.report.codes).sort((a, b) => b[1] - a[1]);
  console.log(`codes: ${codes.map(([c, n]) => `${c}=${n}`).join(" ")}`);
  for (const [name, kb] of Object.entries(r.rssStart)) {
    const end = r.rssEnd[name];
    console.log(`rss ${name}: start ${kb ?? "-"} kB, end ${end ?? "gone"} kB`);
  }
  console.log(
    r.problems.length
      ? `PROBLEMS:\n  ${r.problems.join("\n  ")}`
      : "drivers still serving; nothing changed outside the test directory",
  );
}

if (import.meta.main) {
  const seconds = Number(Deno.env.get("SOAK_SECONDS") ?? "600");
  const result = await soak(seconds);
  printResult(result);
  Deno.exit(result.problems.length ? 1 : 0);
}

import { timeLeft } from "../call_scope.ts";
import { collectOutput } from "../exec.ts";
import { statfsAvailable, statfsCall } from "./statfs_ffi.ts";

/**
 * stat(2) and statfs(2) on paths that may lie on a FUSE mount whose client is stopped or
 * overloaded. Such a call blocks in the kernel until the client answers, possibly forever.
 *
 * The calls run in-process on the runtime's blocking-thread pool (Deno.stat, and statfs through
 * FFI declared `nonblocking`), never on the JS thread, and each wait is raced with a timeout: a
 * probe that does not answer in time is "hung", and the caller, its volume's lock and the event
 * loop go on. The thread stays in the kernel until the client answers or its connection is
 * aborted, so a path has at most one call outstanding: later probes of it share that call (and
 * answer "hung" at once when it is already older than their timeout), and past
 * MAX_OUTSTANDING stuck calls a probe falls back to a child `stat` process, which is killable.
 * An earlier version spawned that child for every probe: 2-4 ms and one exec per health check.
 */

/** "hung": the file system did not answer within the timeout (a stopped or overloaded client). */
export type ProbeHealth = "ok" | "missing" | "corrupted" | "hung";

export interface FsUsage {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  bsize: bigint;
  files: bigint;
  ffree: bigint;
}

/** The two calls a probe makes; they reject with errors carrying an errno `code` ("ENOTCONN"). */
export interface ProbeCalls {
  stat(path: string): Promise<unknown>;
  statfs(path: string): Promise<FsUsage>;
}

export interface ProbeOptions {
  /** Upper bound; a caller's earlier deadline (lib/call_scope.ts) shortens it. */
  timeoutMs?: number;
  /** In-process calls; tests pass stand-ins (one that never settles plays a stopped client). */
  calls?: ProbeCalls;
  /** The `stat` program (coreutils) of the fallback; tests pass a stand-in. */
  statCommand?: string;
  /** Stuck in-process calls tolerated before falling back to child processes. */
  maxOutstanding?: number;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;
export const MAX_OUTSTANDING = 32;

const realCalls: ProbeCalls = { stat: (p) => Deno.stat(p), statfs: statfsCall };

/** Errors that mean a mount is there but its client is gone or broken (not a caller mistake). */
const CORRUPTED_CODES = new Set(["ENOTCONN", "ESTALE", "EIO", "EACCES", "EHOSTDOWN", "ECONNABORTED"]);
const MISSING_CODES = new Set(["ENOENT", "ENOTDIR"]);
const CORRUPTED =
  /Transport endpoint is not connected|Stale file handle|Input\/output error|Permission denied|Host is down|Software caused connection abort/i;
const MISSING = /No such file or directory|Not a directory/i;

function classifyError(e: unknown, what: string): "missing" | "corrupted" {
  const code = (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : String(e);
  if ((typeof code === "string" && MISSING_CODES.has(code)) || MISSING.test(message)) return "missing";
  if ((typeof code === "string" && CORRUPTED_CODES.has(code)) || CORRUPTED.test(message)) return "corrupted";
  throw new Error(`${what}: ${message}`);
}

function boundMs(opts: ProbeOptions): number {
  // At most 40% of what the caller has left: a handler may probe twice and still answer in time.
  return Math.max(50, Math.min(opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, timeLeft(Infinity) * 0.4));
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
interface Outstanding {
  since: number;
  result: Promise<Settled<unknown>>;
}

/** Calls in flight, by kind and path: one kernel wait per path however often it is probed. */
const outstanding = new Map<string, Outstanding>();

/** How many in-process calls have not returned (for tests and the benchmark). */
export const outstandingProbes = (): number => outstanding.size;

/** The call's result, or "hung" when it is not back within `ms` (counted from its start). */
async function bounded<T>(key: string, ms: number, start: () => Promise<T>): Promise<Settled<T> | "hung"> {
  let o = outstanding.get(key);
  if (!o) {
    const result = start().then(
      (value): Settled<unknown> => ({ ok: true, value }),
      (error): Settled<unknown> => ({ ok: false, error }),
    );
    const entry: Outstanding = { since: performance.now(), result };
    void result.then(() => {
      if (outstanding.get(key) === entry) outstanding.delete(key);
    });
    outstanding.set(key, entry);
    o = entry;
  }
  const left = ms - (performance.now() - o.since);
  if (left <= 0) return "hung";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), left)));
  try {
    return await Promise.race([o.result as Promise<Settled<T>>, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const tooMany = (opts: ProbeOptions) => outstanding.size >= (opts.maxOutstanding ?? MAX_OUTSTANDING);

/** Whether `path` answers stat: missing, corrupted (ENOTCONN and the like) or hung. */
export async function probeStat(path: string, opts: ProbeOptions = {}): Promise<ProbeHealth> {
  const key = `stat:${path}`;
  if (!outstanding.has(key) && tooMany(opts)) return await childProbeStat(path, opts);
  const calls = opts.calls ?? realCalls;
  const r = await bounded(key, boundMs(opts), () => calls.stat(path));
  if (r === "hung") return "hung";
  return r.ok ? "ok" : classifyError(r.error, `stat ${path}`);
}

/** statfs(2) of the file system holding `path`, or its health when it does not answer. */
export async function probeStatfs(path: string, opts: ProbeOptions = {}): Promise<FsUsage | ProbeHealth> {
  const key = `statfs:${path}`;
  if ((!opts.calls && !statfsAvailable()) || (!outstanding.has(key) && tooMany(opts))) {
    return await childProbeStatfs(path, opts);
  }
  const calls = opts.calls ?? realCalls;
  const r = await bounded(key, boundMs(opts), () => calls.statfs(path));
  if (r === "hung") return "hung";
  return r.ok ? r.value : classifyError(r.error, `statfs ${path}`);
}

// The fallback: a child `stat` process with a timeout (a FUSE request wait is killable).

type Outcome = { kind: "done"; code: number; stdout: string; stderr: string } | { kind: "hung" };

async function runStat(args: string[], opts: ProbeOptions): Promise<Outcome> {
  const child = new Deno.Command(opts.statCommand ?? "stat", {
    args,
    env: { LC_ALL: "C" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      resolve({ kind: "hung" });
    }, boundMs(opts));
  });
  const done = collectOutput(child).then((o): Outcome => {
    const dec = new TextDecoder();
    return { kind: "done", code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
  });
  try {
    return await Promise.race([done, hung]);
  } finally {
    clearTimeout(timer);
    // Reap the child whenever it does end; its output no longer matters.
    done.catch(() => {});
  }
}

function childFailure(o: Extract<Outcome, { kind: "done" }>, path: string): "missing" | "corrupted" {
  return classifyError(new Error(o.stderr.trim() || `exited ${o.code}`), `stat ${path}`);
}

export async function childProbeStat(path: string, opts: ProbeOptions = {}): Promise<ProbeHealth> {
  const o = await runStat(["--format=%F", "--", path], opts);
  if (o.kind === "hung") return "hung";
  return o.code === 0 ? "ok" : childFailure(o, path);
}

export async function childProbeStatfs(
  path: string,
  opts: ProbeOptions = {},
): Promise<FsUsage | ProbeHealth> {
  // %b total blocks, %f free, %a available to users, %S fundamental block size, %c inodes, %d free inodes.
  const o = await runStat(["--file-system", "--format=%b %f %a %S %c %d", "--", path], opts);
  if (o.kind === "hung") return "hung";
  if (o.code !== 0) return childFailure(o, path);
  const n = o.stdout.trim().split(/\s+/).map((x) => (/^\d+$/.test(x) ? BigInt(x) : undefined));
  const [blocks, bfree, bavail, bsize, files, ffree] = n;
  if (
    n.length !== 6 || blocks === undefined || bfree === undefined || bavail === undefined ||
    bsize === undefined || files === undefined || ffree === undefined
  ) {
    throw new Error(`stat --file-system ${path}: unexpected output ${JSON.stringify(o.stdout.trim())}`);
  }
  return { blocks, bfree, bavail, bsize, files, ffree };
}

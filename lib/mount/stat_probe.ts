import { timeLeft } from "../call_scope.ts";

/**
 * stat(2) and statfs(2) on paths that may lie on a FUSE mount whose client is stopped or
 * overloaded. Such a call blocks in the kernel until the client answers, possibly forever:
 * in-process it would pin a thread, and an awaited promise would keep the volume's lock and
 * the caller waiting past its deadline. So each probe runs in a child `stat` process with a
 * timeout (a FUSE request wait is killable), and a probe that does not answer in time is
 * reported as "hung" whether or not the child has gone yet.
 */

/** "hung": the file system did not answer within the timeout (a stopped or overloaded client). */
export type ProbeHealth = "ok" | "missing" | "corrupted" | "hung";

export interface ProbeOptions {
  /** Upper bound; a caller's earlier deadline (lib/call_scope.ts) shortens it. */
  timeoutMs?: number;
  /** The `stat` program (coreutils); tests pass a stand-in. */
  statCommand?: string;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

/** Errors that mean a mount is there but its client is gone or broken (not a caller mistake). */
const CORRUPTED =
  /Transport endpoint is not connected|Stale file handle|Input\/output error|Permission denied|Host is down|Software caused connection abort/i;
const MISSING = /No such file or directory|Not a directory/i;

type Outcome = { kind: "done"; code: number; stdout: string; stderr: string } | { kind: "hung" };

async function runStat(args: string[], opts: ProbeOptions): Promise<Outcome> {
  // At most 40% of what the caller has left: a handler may probe twice and still answer in time.
  const timeoutMs = Math.max(
    50,
    Math.min(opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, timeLeft(Infinity) * 0.4),
  );
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
    }, timeoutMs);
  });
  const done = child.output().then((o): Outcome => {
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

function classify(o: Extract<Outcome, { kind: "done" }>, path: string): "missing" | "corrupted" {
  if (MISSING.test(o.stderr)) return "missing";
  if (CORRUPTED.test(o.stderr)) return "corrupted";
  throw new Error(`stat ${path}: ${o.stderr.trim() || `exited ${o.code}`}`);
}

/** Whether `path` answers stat: missing, corrupted (ENOTCONN and the like) or hung. */
export async function probeStat(path: string, opts: ProbeOptions = {}): Promise<ProbeHealth> {
  const o = await runStat(["--format=%F", "--", path], opts);
  if (o.kind === "hung") return "hung";
  return o.code === 0 ? "ok" : classify(o, path);
}

export interface FsUsage {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  bsize: bigint;
  files: bigint;
  ffree: bigint;
}

/** statfs(2) of the file system holding `path`, or its health when it does not answer. */
export async function probeStatfs(path: string, opts: ProbeOptions = {}): Promise<FsUsage | ProbeHealth> {
  // %b total blocks, %f free, %a available to users, %S fundamental block size, %c inodes, %d free inodes.
  const o = await runStat(["--file-system", "--format=%b %f %a %S %c %d", "--", path], opts);
  if (o.kind === "hung") return "hung";
  if (o.code !== 0) return classify(o, path);
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

/**
 * What a supervisor's log says about a client being started (lib/supervisor/supervisor.ts writes
 * it line by line, to a file in process mode and to the Mount Pod's log in pod mode): how often
 * juicefs exited, whether it cannot reach its metadata engine, and juicefs's own last words.
 * Both backends end a start on these and quote them. Pure.
 */
import { redact } from "../redact.ts";
import { isUnreachableMeta } from "../juicefs/start_errors.ts";

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The supervisor's line for a juicefs process that ended (lib/supervisor/supervisor.ts). */
const CLIENT_EXITED = /juicefs client \d+ exited/;

/** "2026-… [INF] csi-jfs·supervisor: juicefs: ERROR: …" → "juicefs: ERROR: …" (or a JSON line's message). */
function stripLogPrefix(line: string): string {
  if (line.startsWith("{")) {
    try {
      return String((JSON.parse(line) as { message?: unknown }).message ?? line);
    } catch { /* not JSON after all */ }
  }
  const m = /^(?:\S+ ){1,3}\[[A-Z]{3}\] [^:]+: (.*)$/.exec(line);
  return m?.[1] ?? line;
}

export interface LogSummary {
  /** How many times juicefs exited in these lines (a client that cannot mount). */
  clientExits: number;
  /** juicefs says it cannot reach or log in to its metadata engine: waiting will not help. */
  unreachableMeta: boolean;
  /** juicefs's own error lines first (they say what is wrong), newest last, redacted. */
  tail: string;
}

/** `log`: the text, or its lines. */
export function summarizeLog(log: string | string[], maxLines = 3): LogSummary {
  const lines = (typeof log === "string" ? log.split("\n") : log).map((l) => l.trim()).filter(Boolean);
  const own = lines.filter((l) => /juicefs: .*(error|fatal|fail|invalid|unknown|refused|timeout)/i.test(l));
  const any = lines.filter((l) => /error|fatal|fail|warn/i.test(l));
  const picked = [...new Set((own.length ? own : any).map(stripLogPrefix))].slice(-maxLines).map((l) =>
    clip(l, 300)
  );
  return {
    clientExits: lines.filter((l) => CLIENT_EXITED.test(l)).length,
    unreachableMeta: lines.some(isUnreachableMeta),
    tail: redact(picked.join(" | ")),
  };
}

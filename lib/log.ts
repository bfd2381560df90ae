import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import { redact } from "./redact.ts";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Every line goes through redact(): a secret that reaches a message is masked before it is written. */
function redacting(format: TextFormatter): TextFormatter {
  return (record: LogRecord) => redact(format(record));
}

// C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: each can end a
// line or rewrite the terminal in some reader of the log.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `s` with every control character written as an escape (`\n`, `\x1b`, `\u2028`). */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => {
    const short = SHORT[c];
    if (short) return short;
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16)}`;
  });
}

/**
 * One record, one line: a field that carries a newline (a volume_id, a juicefs error) must
 * not be able to forge a line of its own. The whole line is escaped, message text included,
 * since messages are built from caller input too; the formatter's own final newline stays.
 */
export function oneLine(format: TextFormatter): TextFormatter {
  return (record: LogRecord) => {
    const line = format(record);
    const body = line.endsWith("\n") ? line.slice(0, -1) : line;
    return `${escapeControls(body)}\n`;
  };
}

/** Where log lines go: stderr, a log file, or a test's recorder. */
export interface LineOutput {
  writeSync(p: Uint8Array): number;
}

/**
 * Writes each record as one whole line, synchronously, the moment it is logged. A stream
 * sink over a file's WritableStream kept lines in memory (the supervisor's log file stayed
 * empty while its client failed to mount), and a process that exits or crashes loses
 * whatever is buffered: the lines that explain the crash.
 */
export function lineSink(out: LineOutput, format: TextFormatter): Sink {
  const encoder = new TextEncoder();
  return (record: LogRecord) => {
    let bytes = encoder.encode(format(record));
    try {
      while (bytes.length > 0) bytes = bytes.subarray(out.writeSync(bytes));
    } catch {
      // A full disk or a closed stderr must not take the driver down with it.
    }
  };
}

export async function setupLogging(
  format: LogFormat,
  level: LogLevel = "info",
  out: LineOutput = Deno.stderr,
): Promise<void> {
  // Redacted before escaped: a secret holding a newline (a PEM key) must still match as written.
  // JSON lines escape control characters themselves.
  const formatter = format === "json" ? redacting(getJsonLinesFormatter()) : oneLine(redacting(
    getTextFormatter({
      timestamp: "date-time-tz",
      value: (v: unknown) => typeof v === "string" ? v : JSON.stringify(v) ?? String(v),
    }),
  ));
  await configure({
    reset: true,
    sinks: { stderr: lineSink(out, formatter) },
    loggers: [
      { category: ["csi-jfs"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

export function logger(...sub: string[]): Logger {
  return getLogger(["csi-jfs", ...sub]);
}

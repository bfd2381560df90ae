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
  const formatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter({
    timestamp: "date-time-tz",
    value: (v: unknown) => typeof v === "string" ? v : JSON.stringify(v) ?? String(v),
  });
  await configure({
    reset: true,
    sinks: { stderr: lineSink(out, redacting(formatter)) },
    loggers: [
      { category: ["csi-jfs"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

export function logger(...sub: string[]): Logger {
  return getLogger(["csi-jfs", ...sub]);
}

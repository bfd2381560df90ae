import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getStreamSink,
  getTextFormatter,
  type Logger,
  type LogRecord,
  type TextFormatter,
} from "@logtape/logtape";
import { redact } from "./redact.ts";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Every line goes through redact(): a secret that reaches a message is masked before it is written. */
function redacting(format: TextFormatter): TextFormatter {
  return (record: LogRecord) => redact(format(record));
}

export async function setupLogging(
  format: LogFormat,
  level: LogLevel = "info",
  stream = Deno.stderr.writable,
): Promise<void> {
  const formatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter({
    timestamp: "date-time-tz",
    value: (v: unknown) => typeof v === "string" ? v : JSON.stringify(v) ?? String(v),
  });
  await configure({
    reset: true,
    sinks: { stderr: getStreamSink(stream, { formatter: redacting(formatter) }) },
    loggers: [
      { category: ["csi-jfs"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

export function logger(...sub: string[]): Logger {
  return getLogger(["csi-jfs", ...sub]);
}

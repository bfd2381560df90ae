import { assertEquals, assertMatch } from "./testing/assert.ts";
import { escapeControls, logger, setupLogging } from "./log.ts";
import { registerSecrets } from "./redact.ts";

/** Records every write, so a test sees what reached the output and when. */
class Recorder {
  writes: string[] = [];
  writeSync(p: Uint8Array): number {
    // Accept at most 16 bytes per call, as a pipe under pressure does: lines must still come out whole.
    const n = Math.min(16, p.length);
    this.writes.push(new TextDecoder().decode(p.subarray(0, n)));
    return n;
  }
  text(): string {
    return this.writes.join("");
  }
}

Deno.test("log: every record reaches the output at once, as one whole line, redacted", async () => {
  const out = new Recorder();
  await setupLogging("text", "debug", out);
  registerSecrets(["log-secret-31415"]);
  const cases = ["first line", "a second line with log-secret-31415 in it", "third"];
  for (const [i, msg] of cases.entries()) {
    logger("t").info(msg);
    // No await between the call and the check: nothing may wait in a buffer.
    const lines = out.text().split("\n").filter((l) => l);
    assertEquals(lines.length, i + 1, `after record ${i}`);
    assertEquals(out.text().endsWith("\n"), true);
  }
  assertMatch(out.text(), /a second line with \*\*\* in it/);
  assertEquals(out.text().includes("log-secret-31415"), false);
  await setupLogging("text", "info");
});

Deno.test("log: a failing output does not throw into the caller", async () => {
  await setupLogging("json", "info", {
    writeSync: () => {
      throw new Error("ENOSPC");
    },
  });
  logger("t").error("disk is full");
  await setupLogging("text", "info");
});

Deno.test("log: control characters in a field or a message are escaped, one record stays one line", async () => {
  const out = new Recorder();
  await setupLogging("text", "debug", out);
  registerSecrets(["pem-line-one\npem-line-two"]);
  const forged = "jfs1/itfs/delete/x\n2026-01-01 00:00:00.000 +00:00 [INF] csi-jfs·controller: forged";
  logger("t").info("delete of {id}", { id: forged });
  logger("t").info(`message text with \r\x1b[2J\u0085\u2028\t${"\x00"}\x7f`);
  logger("t").info("secret {s}", { s: "pem-line-one\npem-line-two" });
  const lines = out.text().split("\n").filter((l) => l);
  assertEquals(lines.length, 3, out.text());
  assertMatch(lines[0]!, /delete of jfs1\/itfs\/delete\/x\\n2026-01-01 .*forged$/);
  assertMatch(lines[1]!, /with \\r\\x1b\[2J\\x85\\u2028\\t\\x00\\x7f$/);
  assertMatch(lines[2]!, /secret \*\*\*$/);
  await setupLogging("text", "info");
});

Deno.test("log: escapeControls leaves printable text alone", () => {
  const table: Array<[string, string]> = [
    ["plain /a/b-c_d.e", "plain /a/b-c_d.e"],
    ["ünïcödé ✓", "ünïcödé ✓"],
    ["a\nb", "a\\nb"],
    ["\x1b", "\\x1b"],
    ["\x9b", "\\x9b"],
    ["\u2029", "\\u2029"],
  ];
  for (const [input, want] of table) assertEquals(escapeControls(input), want, JSON.stringify(input));
});

import { assertEquals, assertMatch } from "./testing/assert.ts";
import { logger, setupLogging } from "./log.ts";
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

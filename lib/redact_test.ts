import { assertEquals } from "./testing/assert.ts";
import { forgetSecrets, redact, registerSecrets } from "./redact.ts";

Deno.test("redact masks registered values and URL passwords", () => {
  forgetSecrets();
  registerSecrets(["s3cr3t-key", "ab", undefined]);
  const cases: Array<[string, string]> = [
    ["key s3cr3t-key here", "key *** here"],
    ["short ab stays", "short ab stays"],
    ["redis://user:pa55@host:6379/1", "redis://user:***@host:6379/1"],
    ["redis://:pa55@host/1 and mysql://u:p@(h:3306)/db", "redis://:***@host/1 and mysql://u:***@(h:3306)/db"],
    ["sqlite3:///var/lib/meta.db", "sqlite3:///var/lib/meta.db"],
  ];
  for (const [input, want] of cases) assertEquals(redact(input), want, input);
  forgetSecrets();
});

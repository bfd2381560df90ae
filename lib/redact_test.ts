import { assertEquals } from "./testing/assert.ts";
import {
  DEFAULT_RECENT_LIMIT,
  forgetSecrets,
  knownSecretCount,
  pinSecrets,
  redact,
  registerSecrets,
  unpinSecrets,
} from "./redact.ts";

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

Deno.test("redact: 23,000 distinct values keep the set bounded; pinned and recent values stay masked", () => {
  forgetSecrets();
  pinSecrets("client-a", ["pinned-secret-0001", "ab"]);
  registerSecrets(["old-secret-0002"]);
  const n = 23_000;
  for (let i = 0; i < n; i++) registerSecrets([`flood-secret-${i}`]);
  console.log(`registered ${n} distinct values; ${knownSecretCount()} kept`);
  assertEquals(knownSecretCount() <= DEFAULT_RECENT_LIMIT + 1, true);
  const cases: Array<[string, string]> = [
    ["key pinned-secret-0001", "key ***"], // in use by a running client: never dropped
    [`key flood-secret-${n - 1}`, "key ***"], // the newest
    [`key flood-secret-${n - DEFAULT_RECENT_LIMIT + 1}`, "key ***"], // still within the cap
    ["key old-secret-0002", "key old-secret-0002"], // long gone, and nothing uses it
  ];
  for (const [input, want] of cases) assertEquals(redact(input), want, input);
  forgetSecrets();
});

Deno.test("redact: a value seen again is kept; an unpinned value ages out like any other", () => {
  forgetSecrets(3);
  pinSecrets("client-a", ["pinned-1234"]);
  registerSecrets(["aaaa1", "bbbb2", "cccc3"]);
  registerSecrets(["aaaa1"]); // seen again: now the newest
  registerSecrets(["dddd4"]); // pushes out the oldest, bbbb2
  assertEquals(redact("aaaa1 bbbb2 cccc3 dddd4"), "*** bbbb2 *** ***");
  pinSecrets("client-b", ["pinned-1234"]);
  unpinSecrets("client-a");
  registerSecrets(["eeee5", "ffff6", "gggg7"]);
  assertEquals(redact("pinned-1234"), "***", "client-b still holds it");
  unpinSecrets("client-b");
  registerSecrets(["hhhh8"]);
  assertEquals(redact("pinned-1234"), "pinned-1234", "nobody holds it and newer values pushed it out");
  assertEquals(knownSecretCount(), 3);
  forgetSecrets();
});

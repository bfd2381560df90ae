import { assertEquals } from "./testing/assert.ts";
import {
  aborted,
  Code,
  codeName,
  codeOf,
  httpStatusOf,
  invalidArgument,
  notFound,
  unavailable,
} from "./errors.ts";

Deno.test("codeOf: coded errors keep their code, anything else is INTERNAL", () => {
  assertEquals(codeOf(notFound("x")), Code.NOT_FOUND);
  assertEquals(codeOf(new Error("boom")), Code.INTERNAL);
  assertEquals(codeOf("string"), Code.INTERNAL);
  assertEquals(codeName(Code.FAILED_PRECONDITION), "FAILED_PRECONDITION");
  assertEquals(codeName(99), "CODE_99");
});

Deno.test("httpStatusOf maps the caller's mistakes to 4xx and the driver's to 5xx", () => {
  const table: [unknown, number][] = [
    [invalidArgument("bad"), 400],
    [notFound("gone"), 404],
    [aborted("busy"), 409],
    [unavailable("down"), 503],
    [new Error("bug"), 500],
  ];
  for (const [err, want] of table) assertEquals(httpStatusOf(err), want, String(err));
});

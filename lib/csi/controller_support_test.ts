import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { paginate } from "./controller_support.ts";

const KEYS = ["a", "b", "c", "d", "e"];
const page = (max: number, token: string) => paginate(KEYS, (k) => k, max, token);

Deno.test("paginate: pages by the last key returned; foreign tokens are ABORTED", async () => {
  assertEquals(page(0, ""), { page: KEYS, next: "" });
  assertEquals(page(2, ""), { page: ["a", "b"], next: "k1:b" });
  assertEquals(page(2, "k1:b"), { page: ["c", "d"], next: "k1:d" });
  assertEquals(page(0, "k1:b"), { page: ["c", "d", "e"], next: "" });
  assertEquals(page(5, ""), { page: KEYS, next: "" });
  // The last key of a page deleted meanwhile: the next page starts after where it was.
  assertEquals(paginate(["a", "c", "d"], (k) => k, 1, "k1:b"), { page: ["c"], next: "k1:c" });
  assertEquals(page(2, "k1:zzz"), { page: [], next: "" });
  for (const t of ["invalid-token", "7", "../x"]) {
    await assertCodedError(() => Promise.resolve().then(() => page(0, t)), Code.ABORTED);
  }
  await assertCodedError(() => Promise.resolve().then(() => page(-1, "")), Code.INVALID_ARGUMENT);
});

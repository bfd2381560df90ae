import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { mountFlags } from "./mount_options.ts";

Deno.test("mountFlags merges, sorts and normalizes", () => {
  assertEquals(mountFlags(["cache-size=1024", "ro"], "writeback,cache-size=1024"), [
    "--cache-size=1024",
    "--read-only",
    "--writeback",
  ]);
  assertEquals(mountFlags([], undefined), []);
});

Deno.test("mountFlags refuses options that break supervision or carry secrets", async () => {
  for (
    const [flags, re] of [[["d"], /"d" is not allowed/], [["subdir=/x"], /"subdir"/], [
      ["secret-key=x"],
      /secret/,
    ], [["a b"], /not valid/]] as const
  ) {
    await assertCodedError(
      () => Promise.resolve(mountFlags([...flags], undefined)),
      Code.INVALID_ARGUMENT,
      re,
    );
  }
});

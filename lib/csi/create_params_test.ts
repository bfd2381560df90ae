import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { chosenCapacity, fitsCapacity, parseCapacity, parseCreateParams } from "./create_params.ts";

Deno.test("parseCreateParams accepts own and provisioner keys", () => {
  assertEquals(parseCreateParams(undefined), { onDelete: "delete" });
  assertEquals(
    parseCreateParams({
      onDelete: "archive",
      pathPattern: "${pvc.name}",
      "csi.storage.k8s.io/pvc/name": "x",
    }),
    { onDelete: "archive", pathPattern: "${pvc.name}" },
  );
});

Deno.test("parseCreateParams refuses unknown keys and policies", async () => {
  for (
    const [p, re] of [[{ foo: "1" }, /"foo" is not known/], [
      { onDelete: "purge" },
      /onDelete must be/,
    ]] as const
  ) {
    await assertCodedError(() => Promise.resolve(parseCreateParams(p)), Code.INVALID_ARGUMENT, re);
  }
});

Deno.test("capacity ranges", async () => {
  const gi = 1n << 30n;
  assertEquals(chosenCapacity(parseCapacity({ required_bytes: String(gi) })), gi);
  assertEquals(chosenCapacity(parseCapacity({ limit_bytes: "5" })), 5n);
  assertEquals(chosenCapacity(parseCapacity(null)), 0n);
  assertEquals(fitsCapacity(gi, parseCapacity({ required_bytes: String(gi) })), true);
  assertEquals(fitsCapacity(gi, parseCapacity({ required_bytes: String(2n * gi) })), false);
  assertEquals(fitsCapacity(0n, parseCapacity(null)), true);
  const bad: Array<[object, RegExp]> = [
    [{ required_bytes: "-1" }, /negative/],
    [{ required_bytes: "abc" }, /not an integer/],
    [{ required_bytes: "10", limit_bytes: "5" }, /exceeds/],
    [{ required_bytes: "99999999999999999999999" }, /out of range/],
  ];
  for (const [r, re] of bad) {
    await assertCodedError(() => Promise.resolve(parseCapacity(r)), Code.INVALID_ARGUMENT, re);
  }
});

Deno.test("parseCreateParams carries Mount Pod settings, under both names, and refuses bad ones", async () => {
  assertEquals(parseCreateParams({ mountMemoryLimit: "2Gi", "juicefs/mount-delete-delay": "1m" }), {
    onDelete: "delete",
    podParams: { mountMemoryLimit: "2Gi", "juicefs/mount-delete-delay": "1m" },
  });
  await assertCodedError(
    () => Promise.resolve(parseCreateParams({ mountCpuLimit: "lots" })),
    Code.INVALID_ARGUMENT,
    /mountCpuLimit: "lots" is not a cpu quantity/,
  );
  await assertCodedError(
    () => Promise.resolve(parseCreateParams({ "juicefs/mount-bogus": "1" })),
    Code.INVALID_ARGUMENT,
    /"juicefs\/mount-bogus" is not known/,
  );
});

import { status } from "@grpc/grpc-js";
import { assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";

// The CSI edge hands lib/errors.ts codes to grpc-js unchanged: the numbers must be gRPC's.
Deno.test("every coded-error code is the gRPC status of the same name", () => {
  for (const [name, n] of Object.entries(Code)) {
    assertEquals(n, (status as unknown as Record<string, number>)[name], name);
  }
});

// The soak's load, short: about 2,000 hostile requests against both services in process mode
// (tests/soak/). CI catches a driver that crashes, stops serving, or mounts outside its directory
// under it; `make soak` runs the same for ten minutes.
import { assertEquals } from "../../lib/testing/assert.ts";
import { printResult, soak } from "../soak/soak.ts";

Deno.test({
  name: "soak (short): the drivers survive 2,000 malformed, huge and deadline-short requests",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const result = await soak(Number(Deno.env.get("SOAK_SECONDS") ?? "20"), 2_000);
    printResult(result);
    assertEquals(result.problems, []);
  },
});

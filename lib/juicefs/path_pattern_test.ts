import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { PV_NAME, PVC_NAME, PVC_NAMESPACE, renderPathPattern } from "./path_pattern.ts";

const params = { [PVC_NAME]: "data", [PVC_NAMESPACE]: "ml", [PV_NAME]: "pvc-123" };

Deno.test("renderPathPattern renders both variable spellings", () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, "pvc-123-name"],
    ["", "pvc-123-name"],
    ["${pvc.namespace}/${pvc.name}", "ml/data"],
    ["${.PVC.namespace}-${.PVC.name}", "ml-data"],
    ["static/${pv.name}", "static/pvc-123"],
  ];
  for (const [pattern, want] of cases) assertEquals(renderPathPattern(pattern, "pvc-123-name", params), want);
});

Deno.test("renderPathPattern refuses anything that would leave the root", async () => {
  const cases: Array<[string | undefined, string, Record<string, string>, RegExp]> = [
    [undefined, "../etc", {}, /must not contain "\/"/],
    [undefined, "..", {}, /"\.\." segment/],
    [undefined, "a/b", {}, /^volume name/],
    ["/abs/${pvc.name}", "v", params, /is absolute/],
    ["../${pvc.name}", "v", params, /"\.\." segment/],
    ["${pvc.name}", "v", { [PVC_NAME]: ".." }, /"\.\." segment/],
    ["${pvc.name}", "v", { [PVC_NAME]: "a\0b" }, /NUL/],
    ["${pvc.name}", "v", {}, /--extra-create-metadata/],
    ["${pvc.uid}", "v", params, /unknown variable/],
    ["x/${pvc.name", "v", params, /malformed/],
    ["a//b", "v", params, /empty segment/],
    [".csi-jfs/x", "v", params, /reserved/],
    ["x".repeat(2000), "v", params, /longer than 1024/],
    [undefined, "x".repeat(300), {}, /longer than 255/],
    [undefined, "", {}, /is empty/],
  ];
  for (const [pattern, name, p, re] of cases) {
    await assertCodedError(
      () => Promise.resolve(renderPathPattern(pattern, name, p)),
      Code.INVALID_ARGUMENT,
      re,
    );
  }
});

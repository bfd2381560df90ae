import { assertEquals } from "../testing/assert.ts";
import { isLinkFree, pathKind } from "./paths.ts";

Deno.test("pathKind and isLinkFree see links, files and missing parts", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${dir}/real/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    await Deno.symlink("/etc", `${dir}/escape`);
    const kinds: Array<[string, string]> = [
      [`${dir}/real`, "directory"],
      [`${dir}/file`, "other"],
      [`${dir}/link`, "symlink"],
      [`${dir}/nope`, "missing"],
      [`${dir}/file/below`, "other"],
    ];
    for (const [p, want] of kinds) assertEquals(await pathKind(p), want, p);
    const free: Array<[string, boolean]> = [
      [`${dir}/real/sub`, true],
      [`${dir}/real/new/deeper`, true],
      [`${dir}/link`, false],
      [`${dir}/link/sub`, false],
      [`${dir}/escape/passwd`, false],
      [`${dir}/escape/new`, false],
    ];
    for (const [p, want] of free) assertEquals(await isLinkFree(p), want, p);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { assertEquals } from "../testing/assert.ts";
import { probeStat, probeStatfs } from "./stat_probe.ts";
import { openScope, withCallScope } from "../call_scope.ts";

/** A stand-in for `stat` that behaves as given (sleeps like a stopped FUSE client, or fails). */
async function fakeStat(body: string): Promise<string> {
  const f = await Deno.makeTempFile({ prefix: "fake-stat-" });
  await Deno.writeTextFile(f, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(f, 0o755);
  return f;
}

Deno.test("probeStat: real paths, broken and hung clients", async () => {
  const dir = await Deno.makeTempDir();
  const hang = await fakeStat("exec sleep 30");
  const enotconn = await fakeStat(
    `echo "stat: cannot statx '$3': Transport endpoint is not connected" >&2; exit 1`,
  );
  const weird = await fakeStat(`echo "stat: something else" >&2; exit 1`);
  try {
    const cases: Array<[string, string, Parameters<typeof probeStat>[1], string]> = [
      ["an existing directory", dir, {}, "ok"],
      ["a missing path", `${dir}/nope`, {}, "missing"],
      ["a path under a file", `${dir}/f/x`, {}, "missing"],
      ["a dead FUSE connection", dir, { statCommand: enotconn }, "corrupted"],
      ["a client that never answers", dir, { statCommand: hang, timeoutMs: 200 }, "hung"],
    ];
    await Deno.writeTextFile(`${dir}/f`, "");
    for (const [what, path, opts, want] of cases) assertEquals(await probeStat(path, opts), want, what);
    let thrown = "";
    await probeStat(dir, { statCommand: weird }).catch((e) => (thrown = (e as Error).message));
    assertEquals(thrown, `stat ${dir}: stat: something else`);
  } finally {
    for (const f of [hang, enotconn, weird]) await Deno.remove(f);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeStat: a caller's near deadline shortens the wait below the default", async () => {
  const hang = await fakeStat("exec sleep 30");
  try {
    // The default bound is 5 s; the caller allows 300 ms, so the probe must give up on its own
    // well before Deno's test timeout, and say "hung".
    const { scope, dispose } = openScope("NodeGetVolumeStats", Date.now() + 300);
    assertEquals(await withCallScope(scope, () => probeStat("/", { statCommand: hang })), "hung");
    dispose();
  } finally {
    await Deno.remove(hang);
  }
});

Deno.test("probeStatfs: usage of a real file system; hung and missing as health", async () => {
  const dir = await Deno.makeTempDir();
  const hang = await fakeStat("exec sleep 30");
  try {
    const u = await probeStatfs(dir);
    if (typeof u === "string") throw new Error(`statfs of ${dir}: ${u}`);
    assertEquals(u.blocks > 0n && u.bsize > 0n && u.bavail <= u.blocks, true);
    assertEquals(await probeStatfs(`${dir}/nope`), "missing");
    assertEquals(await probeStatfs(dir, { statCommand: hang, timeoutMs: 200 }), "hung");
  } finally {
    await Deno.remove(hang);
    await Deno.remove(dir, { recursive: true });
  }
});

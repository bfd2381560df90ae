import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { FakeRunner } from "../exec.ts";
import { abortFuseConnection, fuseConnectionId } from "./fuse_connection.ts";
import { processGroupAlive } from "./process_group.ts";

Deno.test("fuseConnectionId: the kernel's dev_t of mountinfo's major:minor", async () => {
  const cases: Array<[string, number]> = [["0:53", 53], ["0:1048575", 1048575], ["8:1", 8 * 2 ** 20 + 1]];
  for (const [device, id] of cases) assertEquals(fuseConnectionId(device), id, device);
  for (const bad of ["", "53", "0:x", "0:53:1", "-1:2"]) {
    await assertCodedError(
      () => Promise.resolve(fuseConnectionId(bad)),
      Code.INVALID_ARGUMENT,
      /major:minor/,
    );
  }
});

Deno.test("abortFuseConnection writes the connection's abort file; mounts fusectl only where it is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fusectl" });
  try {
    const runner = new FakeRunner();
    // Not mounted (empty dir), and mounting does not make it appear: a clear error.
    await assertCodedError(
      () => abortFuseConnection("0:53", { runner, connectionsDir: dir }),
      Code.FAILED_PRECONDITION,
      /cannot abort FUSE connection 0:53: .*\/53\/abort does not exist/,
    );
    assertEquals(runner.commandLines(), [`mount -t fusectl fusectl ${dir}`]);

    await Deno.mkdir(`${dir}/53`);
    await Deno.writeTextFile(`${dir}/53/abort`, "");
    assertEquals(await abortFuseConnection("0:53", { runner, connectionsDir: dir }), `${dir}/53/abort`);
    assertEquals(await Deno.readTextFile(`${dir}/53/abort`), "1");
    // Mounted (not empty) but this connection is gone: no second mount.
    await assertCodedError(
      () => abortFuseConnection("0:54", { runner, connectionsDir: dir }),
      Code.FAILED_PRECONDITION,
      /\/54\/abort does not exist/,
    );
    assertEquals(runner.calls.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processGroupAlive reads pgrp and comm from /proc/PID/stat, skipping zombies", async () => {
  const proc = await Deno.makeTempDir({ prefix: "proc" });
  try {
    const stat = async (pid: number, comm: string, state: string, pgrp: number) => {
      await Deno.mkdir(`${proc}/${pid}`);
      await Deno.writeTextFile(`${proc}/${pid}/stat`, `${pid} (${comm}) ${state} 1 ${pgrp} ${pgrp} 0 -1`);
    };
    await stat(100, "juicefs", "S", 100);
    await stat(101, "juice fs) Z 1 7", "S", 7); // a comm that tries to look like another group
    await stat(102, "juicefs", "Z", 200);
    await Deno.mkdir(`${proc}/self`);
    await stat(103, "df", "D", 400);
    const alive = (pgid: number, comm?: string) =>
      processGroupAlive(pgid, { procDir: proc, ...(comm ? { comm: [comm] } : {}) });
    assertEquals(alive(100), true);
    assertEquals(alive(100, "juicefs"), true);
    assertEquals(alive(7), true);
    assertEquals(alive(7, "juicefs"), false, "the comm is what is between the first ( and the last )");
    assertEquals(alive(200), false, "a zombie serves nothing");
    assertEquals(alive(300), false);
    assertEquals(alive(400), true);
    assertEquals(alive(400, "juicefs"), false, "a helper left in the group is not the client");
  } finally {
    await Deno.remove(proc, { recursive: true });
  }
});

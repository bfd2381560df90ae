// ValidateVolumeCapabilities must never start a client: five calls with wrong secret-key
// values once started five admin mounts (about 790 MB) and held them for ten minutes.
import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { ControllerService } from "./controller.ts";
import { FakeBackend } from "../clients/fake_backend.ts";
import { FakeRunner } from "../exec.ts";
import { JuiceFsCli } from "../juicefs/cli.ts";
import { AdminMounts } from "../clients/admin_mounts.ts";
import { KeyedLocks } from "../locks.ts";
import { encodeVolumeId } from "../volume_id.ts";

const SECRETS = { name: "myfs", metaurl: "redis://redis:6379/1", storage: "s3", "access-key": "AKIA-1234" };
const CAP = {
  mount: { fs_type: "", mount_flags: [], volume_mount_group: "" },
  access_mode: { mode: "MULTI_NODE_MULTI_WRITER" as const },
  access_type: "mount" as const,
};

Deno.test("controller: ValidateVolumeCapabilities asks the metadata engine, never mounts", async () => {
  const existing = new Set(["/pvc-1"]);
  const runner = new FakeRunner().on(/^juicefs quota get /, (c) => {
    const path = c.args[c.args.indexOf("--path") + 1] ?? "";
    if (c.env["META_PASSWORD"] === "unreachable") {
      return { code: 1, stderr: "<FATAL>: dial tcp: connection refused" };
    }
    if (existing.has(path)) return { code: 1, stderr: `<FATAL>: no quota for inode 2 path ${path}` };
    return { code: 1, stderr: `<FATAL>: resolve dir ${path}: no such file or directory` };
  });
  const cli = new JuiceFsCli(runner);
  const backend = new FakeBackend({ root: "/nonexistent-root" });
  const ctl = new ControllerService({
    admin: new AdminMounts(backend, cli, 0),
    cli,
    locks: new KeyedLocks(),
  });
  const validate = (subdir: string, secrets: Record<string, string>) =>
    ctl.ValidateVolumeCapabilities({
      volume_id: encodeVolumeId({ fsName: "myfs", onDelete: "delete", subdir }),
      volume_capabilities: [CAP],
      volume_context: {},
      parameters: {},
      mutable_parameters: {},
      secrets,
    });
  for (let i = 0; i < 5; i++) {
    const res = await validate("pvc-1", { ...SECRETS, "secret-key": `wrong-secret-${i}` });
    assertEquals(res.confirmed?.volume_capabilities, [CAP]);
  }
  await assertCodedError(() => validate("pvc-gone", SECRETS), Code.NOT_FOUND, /does not exist/);
  await assertCodedError(
    () => validate("pvc-1", { ...SECRETS, metaurl: "redis://u:unreachable@redis:6379/1" }),
    Code.UNAVAILABLE,
    /cannot look up \/pvc-1 in the metadata of "myfs"/,
  );
  assertEquals([backend.ensured.length, backend.started.length], [0, 0], "no client was started");
  assertEquals(runner.commandLines().filter((l) => !l.startsWith("juicefs quota get")), []);
});

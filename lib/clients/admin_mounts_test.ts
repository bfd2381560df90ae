import { assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code, unavailable } from "../errors.ts";
import { AdminMounts } from "./admin_mounts.ts";
import { FakeBackend } from "./fake_backend.ts";
import { FakeRunner } from "../exec.ts";
import { JuiceFsCli } from "../juicefs/cli.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { clientKey } from "./backend.ts";

const formatted = () =>
  new JuiceFsCli(
    new FakeRunner().on(/^juicefs status /, { stdout: JSON.stringify({ Setting: { Name: "myfs" } }) }),
  );
const settingsWith = (secretKey: string) =>
  settingsFromSecrets({ name: "myfs", metaurl: "redis://redis:6379/1", "secret-key": secretKey });

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "admin_mounts_test" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("admin mounts: distinct credentials of one file system hold at most maxPerFs clients", async () => {
  await withRoot(async (root) => {
    const backend = new FakeBackend({ root, perKey: true });
    const admin = new AdminMounts(backend, formatted(), 600_000, 2);
    // Five calls in a row with five different (wrong) secret keys, each idle after its call.
    for (let i = 0; i < 5; i++) {
      await admin.withMount(settingsWith(`wrong-${i}`), { format: false }, () => Promise.resolve());
    }
    const running = (await backend.list()).length;
    console.log(
      `5 credentials: ${backend.started.length} started, ${backend.released.length} released, ${running} running`,
    );
    assertEquals(running, 2);
    // The newest stay warm; the oldest idle ones made room.
    assertEquals(
      backend.released,
      [0, 1, 2].map((i) => clientKey({ settings: settingsWith(`wrong-${i}`), mountFlags: [] })),
    );
    await admin.releaseAll();
  });
});

Deno.test("admin mounts: a third client while two are busy is RESOURCE_EXHAUSTED and starts nothing", async () => {
  await withRoot(async (root) => {
    const backend = new FakeBackend({ root, perKey: true });
    const admin = new AdminMounts(backend, formatted(), 600_000, 2);
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    const a = admin.withMount(settingsWith("key-a"), { format: false }, () => busy);
    const b = admin.withMount(settingsWith("key-b"), { format: false }, () => busy);
    await new Promise((r) => setTimeout(r, 10));
    await assertCodedError(
      () => admin.withMount(settingsWith("key-c"), { format: false }, () => Promise.resolve()),
      Code.RESOURCE_EXHAUSTED,
      /file system "myfs" already has 2 admin clients in use with other credentials/,
    );
    assertEquals(backend.started.length, 2);
    release();
    await Promise.all([a, b]);
    await admin.releaseAll();
  });
});

Deno.test("admin mounts: a client that failed to start is released at once, not kept for the idle time", async () => {
  await withRoot(async (root) => {
    const backend = new FakeBackend({ root, perKey: true });
    const admin = new AdminMounts(backend, formatted(), 600_000, 2);
    backend.failNext = unavailable("JuiceFS client did not mount: bad secret key");
    await assertCodedError(
      () => admin.withMount(settingsWith("wrong"), { format: false }, () => Promise.resolve()),
      Code.UNAVAILABLE,
      /bad secret key/,
    );
    assertEquals(backend.released, [clientKey({ settings: settingsWith("wrong"), mountFlags: [] })]);
    // Its slot is free again: two other credentials fit.
    await admin.withMount(settingsWith("a"), { format: false }, () => Promise.resolve());
    await admin.withMount(settingsWith("b"), { format: false }, () => Promise.resolve());
    assertEquals(backend.released.length, 1);
    await admin.releaseAll();
  });
});

Deno.test("admin mounts: a sweep releases clients an earlier controller left, never one in use", async () => {
  await withRoot(async (root) => {
    const backend = new FakeBackend({ root, perKey: true });
    // Left running by a controller that crashed: this one never heard of it.
    const leftover = await backend.ensure({ settings: settingsWith("old-run"), mountFlags: [] });
    const admin = new AdminMounts(backend, formatted(), 600_000, 2);
    let release!: () => void;
    const busy = admin.withMount(
      settingsWith("now"),
      { format: false },
      () => new Promise<void>((r) => (release = r)),
    );
    await new Promise((r) => setTimeout(r, 10));
    await admin.sweep();
    assertEquals(backend.released, [leftover.key]);
    release();
    await busy;
    await admin.sweep();
    assertEquals(
      backend.released,
      [leftover.key],
      "an idle client this controller holds waits for its idle time",
    );
    await admin.releaseAll();
  });
});

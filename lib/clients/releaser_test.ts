import { join } from "node:path";
import { assertEquals } from "../testing/assert.ts";
import { ClientReleaser } from "./releaser.ts";
import { FakeBackend } from "./fake_backend.ts";
import { clientKey, type ClientSpec } from "./backend.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";

const spec: ClientSpec = {
  settings: { name: "myfs", metaUrl: "redis://redis:6379/1", formatOptions: [], secretEnv: {} },
  mountFlags: [],
};
const KEY = clientKey(spec);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Env {
  mounter: FakeMounter;
  backend: FakeBackend;
  releaser: ClientReleaser;
  /** The client's device, after a volume was bound from it and that bind taken off again. */
  device: string;
  mountPath: string;
}

/** A client with one volume that has just been unstaged: its mount is the only user left. */
async function withClient(delayMs: number, fn: (e: Env) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "releaser_test" });
  const mounter = new FakeMounter();
  const backend = new FakeBackend({ root, perKey: true, mounter });
  const releaser = new ClientReleaser(backend, mounter, delayMs);
  try {
    const { mountPath } = await backend.ensure(spec);
    const device = mounter.entries[0]!.device;
    await mounter.bind(join(mountPath, "pvc-1"), "/staging/pvc-1");
    await mounter.unmount("/staging/pvc-1");
    await fn({ mounter, backend, releaser, device, mountPath });
  } finally {
    releaser.stop();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("releaser: delay 0 releases at once when nothing else uses the client", async () => {
  await withClient(0, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    assertEquals(backend.released, [KEY]);
  });
});

Deno.test("releaser: a client still bound elsewhere is kept", async () => {
  await withClient(0, async ({ releaser, backend, mounter, device, mountPath }) => {
    await mounter.bind(join(mountPath, "pvc-2"), "/staging/pvc-2");
    await releaser.releaseIfUnused(device);
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: a device no client owns releases nothing", async () => {
  await withClient(0, async ({ releaser, backend }) => {
    await releaser.releaseIfUnused("0:999");
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: with a delay, releases after it and not before", async () => {
  await withClient(30, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    assertEquals(backend.released, [], "not yet");
    await sleep(60);
    assertEquals(backend.released, [KEY]);
  });
});

Deno.test("releaser: cancel() before the delay keeps the client", async () => {
  await withClient(30, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    releaser.cancel(KEY);
    await sleep(60);
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: guard() (a stage ensuring the client) cancels a pending release", async () => {
  await withClient(30, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    assertEquals(await releaser.guard(KEY, () => Promise.resolve("staged")), "staged");
    await sleep(60);
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: a bind of the device made before the timer fires keeps the client", async () => {
  await withClient(30, async ({ releaser, backend, mounter, device, mountPath }) => {
    await releaser.releaseIfUnused(device);
    // A bind made without guard() (another node plugin instance, a restarted plugin).
    await mounter.bind(join(mountPath, "pvc-2"), "/staging/pvc-2");
    await sleep(60);
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: a second unstage replaces the pending timer instead of stacking one", async () => {
  await withClient(30, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    await releaser.releaseIfUnused(device);
    assertEquals(backend.released, []);
    await sleep(80);
    assertEquals(backend.released, [KEY], "released once");
  });
});

Deno.test("releaser: a release queued behind guard() runs after the stage and sees its bind", async () => {
  await withClient(0, async ({ releaser, backend, mounter, device, mountPath }) => {
    let bound!: () => void;
    const staged = releaser.guard(KEY, async () => {
      await new Promise<void>((r) => (bound = r));
      await mounter.bind(join(mountPath, "pvc-2"), "/staging/pvc-2");
    });
    const release = releaser.releaseIfUnused(device);
    await sleep(5);
    assertEquals(backend.released, [], "waits for the stage in flight");
    bound();
    await staged;
    await release;
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: stop() drops pending timers", async () => {
  await withClient(30, async ({ releaser, backend, device }) => {
    await releaser.releaseIfUnused(device);
    releaser.stop();
    await sleep(60);
    assertEquals(backend.released, []);
  });
});

Deno.test("releaser: a sweep releases idle clients (timers lost in a restart) and keeps busy ones", async () => {
  const root = await Deno.makeTempDir({ prefix: "releaser_test" });
  const mounter = new FakeMounter();
  const backend = new FakeBackend({ root, perKey: true, mounter });
  try {
    const busy: ClientSpec = { ...spec, mountFlags: ["--cache-size=0"] };
    const idle = await backend.ensure(spec);
    const used = await backend.ensure(busy);
    await mounter.bind(join(used.mountPath, "pvc-2"), "/staging/pvc-2");
    // A fresh releaser, as after a node plugin restart: it has no timers for either client.
    const releaser = new ClientReleaser(backend, mounter, 0);
    await releaser.sweep();
    assertEquals(backend.released, [idle.key]);
    assertEquals((await backend.list()).map((c) => c.key), [used.key]);
    releaser.stop();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// The driver end to end on real JuiceFS: a real juicefs client, sqlite3 metadata, a local
// directory as object storage, real FUSE and bind mounts, CSI over the real sockets.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import {
  call,
  codeOfCall,
  type Driver,
  mountCap,
  mountsUnder,
  sh,
  startDriver,
  waitFor,
} from "../support/driver.ts";

const GiB = 1024 ** 3;
const SECRET_VALUES = ["AccessKeyValue4567", "SuperSecretValue1234"];

interface Volume {
  volume_id: string;
  capacity_bytes: string;
  volume_context: Record<string, string>;
}

async function create(
  d: Driver,
  name: string,
  bytes: number,
  params: Record<string, string> = {},
): Promise<Volume> {
  const res = await call<{ volume: Volume }>(d.controller, "CreateVolume", {
    name,
    capacity_range: { required_bytes: String(bytes) },
    volume_capabilities: [mountCap("MULTI_NODE_MULTI_WRITER")],
    parameters: params,
    secrets: d.secrets,
  });
  return res.volume;
}

async function stage(d: Driver, v: Volume, staging: string): Promise<void> {
  await call(d.node, "NodeStageVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
    secrets: d.secrets,
    volume_context: v.volume_context,
  });
}

async function publish(
  d: Driver,
  v: Volume,
  staging: string,
  target: string,
  readonly = false,
): Promise<void> {
  await call(d.node, "NodePublishVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    target_path: target,
    volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
    readonly,
  });
}

/** Pids of juicefs processes serving this test's file system. */
async function juicefsPids(d: Driver): Promise<number[]> {
  const out = await sh(`pgrep -f '[j]uicefs.*mount.*${d.dir}/meta.db' || true`);
  return out.out.split("\n").filter(Boolean).map(Number);
}

/** Mount points of the node's JuiceFS clients (not the controller's, not binds). */
function clientMounts(d: Driver): string[] {
  return mountsUnder(`${d.dir}/state/clients`).filter((m) => m.endsWith("/mnt"));
}

async function dfBytes(path: string): Promise<number> {
  const r = await sh(`df -B1 --output=size ${path} | tail -1`);
  return Number(r.out.trim());
}

Deno.test({
  name: "volumes on real JuiceFS: share, read-only, quota, crash recovery, restart adoption, release",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const d = await startDriver();
    d.secrets["access-key"] = SECRET_VALUES[0]!;
    d.secrets["secret-key"] = SECRET_VALUES[1]!;
    const staging = `${d.dir}/staging/a`;
    const [p1, p2, p3] = [`${d.dir}/pods/1/vol`, `${d.dir}/pods/2/vol`, `${d.dir}/pods/3/vol`];
    try {
      const a = await create(d, "vol-a", GiB);
      await t.step("CreateVolume reports the quota as the capacity, and is idempotent", async () => {
        assertEquals(a.capacity_bytes, String(GiB));
        assertEquals((await create(d, "vol-a", GiB)).volume_id, a.volume_id);
        assertEquals(await codeOfCall(create(d, "vol-a", 2 * GiB)), "ALREADY_EXISTS");
      });

      await t.step("data written through one target is visible through another", async () => {
        await stage(d, a, staging);
        await publish(d, a, staging, p1);
        await publish(d, a, staging, p2);
        await publish(d, a, staging, p2); // retried by kubelet: already done is success
        await Deno.writeTextFile(`${p1}/hello.txt`, "from pod 1");
        assertEquals(await Deno.readTextFile(`${p2}/hello.txt`), "from pod 1");
      });

      await t.step("a read-only target refuses writes", async () => {
        await publish(d, a, staging, p3, true);
        assertEquals(await Deno.readTextFile(`${p3}/hello.txt`), "from pod 1");
        const r = await sh(`echo x > ${p3}/nope.txt`);
        assert(r.code !== 0 && /Read-only/i.test(r.out), r.out);
        assertEquals(await codeOfCall(publish(d, a, staging, p3, false)), "ALREADY_EXISTS");
      });

      await t.step("the quota shows in df and in NodeGetVolumeStats, and expansion raises it", async () => {
        assertEquals(await dfBytes(p1), GiB);
        const stats = await call<{ usage: Array<{ unit: string; total: string }> }>(
          d.node,
          "NodeGetVolumeStats",
          {
            volume_id: a.volume_id,
            volume_path: p1,
          },
        );
        assertEquals(stats.usage.find((u) => u.unit === "BYTES")?.total, String(GiB));
        const res = await call<{ capacity_bytes: string }>(d.controller, "ControllerExpandVolume", {
          volume_id: a.volume_id,
          capacity_range: { required_bytes: String(3 * GiB) },
          secrets: d.secrets,
        });
        assertEquals(res.capacity_bytes, String(3 * GiB));
        // The node's client refreshes quotas from the metadata engine on its own schedule.
        await waitFor("df to show 3 GiB", 60_000, async () => (await dfBytes(p1)) === 3 * GiB);
      });

      const b = await create(d, "vol-b", GiB);
      await t.step("volumes of one file system share one client on the node", async () => {
        await stage(d, b, `${d.dir}/staging/b`);
        assertEquals(clientMounts(d).length, 1);
      });

      await t.step(
        "after the juicefs client is killed, published targets work again without a new publish",
        async () => {
          const before = mountsUnder(d.dir);
          const pids = await juicefsPids(d);
          assert(pids.length > 0, "juicefs is running");
          await sh(`kill -9 ${pids.join(" ")}`);
          const took = await waitFor("reads and writes through the target", 10_000, async () => {
            const r = await sh(`cat ${p1}/hello.txt && echo again > ${p1}/after-crash.txt`);
            return r.code === 0;
          });
          console.log(`  recovered in ${took} ms`);
          assertEquals(await Deno.readTextFile(`${p2}/after-crash.txt`), "again\n");
          assertEquals(mountsUnder(d.dir), before, "no mount was added or removed");
        },
      );

      await t.step(
        "a restarted node plugin adopts the running client instead of mounting twice",
        async () => {
          await d.restartNode();
          const c = await create(d, "vol-c", GiB);
          await stage(d, c, `${d.dir}/staging/c`);
          assertEquals(clientMounts(d).length, 1);
          await call(d.node, "NodeUnstageVolume", {
            volume_id: c.volume_id,
            staging_target_path: `${d.dir}/staging/c`,
          });
        },
      );

      await t.step("secrets never appear in argv, logs or readable files", async () => {
        const cmdlines = await sh("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '");
        const logs = await d.logs();
        const files = await sh(
          `grep -rl --exclude-dir=mnt '${SECRET_VALUES[1]}' ${d.dir}/state 2>/dev/null || true`,
        );
        for (const s of SECRET_VALUES) {
          assert(!cmdlines.out.includes(s), `secret in a process argv`);
          assert(!logs.includes(s), `secret in the logs`);
        }
        assertEquals(files.out.trim(), "", "no file under the state dir holds a secret");
      });

      await t.step("unpublish and unstage remove everything; the last volume stops the client", async () => {
        for (const p of [p1, p2, p3]) {
          await call(d.node, "NodeUnpublishVolume", { volume_id: a.volume_id, target_path: p });
          await call(d.node, "NodeUnpublishVolume", { volume_id: a.volume_id, target_path: p });
          assertEquals(await Deno.stat(p).then(() => true, () => false), false, `${p} removed`);
        }
        await call(d.node, "NodeUnstageVolume", { volume_id: a.volume_id, staging_target_path: staging });
        assertEquals(clientMounts(d).length, 1, "vol-b still uses the client");
        await call(d.node, "NodeUnstageVolume", {
          volume_id: b.volume_id,
          staging_target_path: `${d.dir}/staging/b`,
        });
        await call(d.node, "NodeUnstageVolume", {
          volume_id: b.volume_id,
          staging_target_path: `${d.dir}/staging/b`,
        });
        assertEquals(clientMounts(d), []);
        assertEquals(mountsUnder(`${d.dir}/staging`), []);
        const sup = await sh(`pgrep -f '[m]ount-supervisor.*${d.dir}/state/clients' || true`);
        assertEquals(sup.out.trim(), "", "no supervisor left for the node");
      });
    } finally {
      await d.stop();
    }
  },
});

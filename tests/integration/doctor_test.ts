// The doctor on a node with real JuiceFS clients, broken on purpose: a stale bind, a staging
// directory removed under a running pod, a client killed together with its supervisor. It
// must report each with its fix, exit non-zero, change nothing without --fix, and with --fix
// do what it listed until the node is clean.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { mountsUnder, ROOT, sh, startDriver, waitFor } from "../support/driver.ts";
import { createVolume, kubeletDir, publishVolume, stageVolume } from "./ops_support.ts";

interface DoctorReport {
  inventory: {
    clients: { key: string; fs: string; pid?: number; health: string }[];
    mounts: { kind: string }[];
  };
  problems: { id: string; subject: string; command: string; fix?: unknown }[];
  fixed?: { problem: string; ok: boolean; error?: string }[];
}

async function doctor(dir: string, ...extra: string[]): Promise<{ code: number; report: DoctorReport }> {
  const out = await new Deno.Command(`${ROOT}/bin/csi-jfs`, {
    args: [
      "--mode=doctor",
      `--state-dir=${dir}/state`,
      `--kubelet-dir=${dir}/kubelet`,
      "--output=json",
      "--log-level=error",
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return { code: out.code, report: JSON.parse(text) };
}

const ids = (r: DoctorReport): string[] => r.problems.map((p) => p.id).sort();

Deno.test({
  name: "doctor: finds a stale bind, a removed staging, a killed client; --fix does what it listed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const d = await startDriver();
    try {
      const a = await createVolume(d, "pv-a");
      const b = await createVolume(d, "pv-b");
      const stagingA = await stageVolume(d, a, "pv-a");
      const stagingB = await stageVolume(d, b, "pv-b");
      await publishVolume(d, a, "pv-a", "uid-a");
      await publishVolume(d, b, "pv-b", "uid-b");

      await t.step("a healthy node: one client, its volumes and pods, exit 0", async () => {
        const { code, report } = await doctor(d.dir);
        assertEquals(report.problems, []);
        assertEquals(code, 0);
        assertEquals(report.inventory.clients.map((c) => [c.fs, c.health]), [["itfs", "ok"]]);
        assertEquals(report.inventory.mounts.map((m) => m.kind).sort(), [
          "publish",
          "publish",
          "staging",
          "staging",
        ]);
        const text = await sh(
          `${ROOT}/bin/csi-jfs --mode=doctor --state-dir=${d.dir}/state --kubelet-dir=${kubeletDir(d)}`,
        );
        assert(text.out.includes("No problems found.") && text.out.includes("pod uid uid-a"), text.out);
      });

      await t.step("a stale bind and a removed staging directory are reported, nothing changes", async () => {
        await Deno.mkdir(`${d.dir}/stale`);
        assertEquals((await sh(`mount --bind ${stagingA} ${d.dir}/stale`)).code, 0);
        assertEquals((await sh(`umount ${stagingB} && rmdir ${stagingB}`)).code, 0);
        const before = mountsUnder(d.dir);
        const { code, report } = await doctor(d.dir);
        assertEquals(code, 1);
        assertEquals(ids(report), ["mount-orphaned", "publish-without-staging"]);
        const stale = report.problems.find((p) => p.id === "mount-orphaned")!;
        assertEquals(stale.command, `umount ${d.dir}/stale`);
        assertEquals(mountsUnder(d.dir), before);
      });

      await t.step("a client killed with its supervisor: the client and every bind are dead", async () => {
        const { report } = await doctor(d.dir);
        const pid = report.inventory.clients[0]!.pid!;
        const juicefs = (await sh(`pgrep -f '[j]uicefs.*mount.*${d.dir}/state/clients/'`)).out.trim().split(
          "\n",
        );
        assert(juicefs[0] !== "", "no juicefs client found");
        await sh(`kill -9 ${pid} ${juicefs.join(" ")}`);
        // The kernel answers stat of a mount root from its attribute cache (juicefs: 1 s) even
        // after the client is gone: look once the mount says it is dead.
        const mnt = `${d.dir}/state/clients/${report.inventory.clients[0]!.key}/mnt`;
        await waitFor(
          "the dead mount to answer ENOTCONN",
          60_000,
          async () => (await sh(`stat ${mnt}`)).code !== 0,
        );
        const after = await doctor(d.dir);
        assertEquals(after.code, 1);
        assertEquals(ids(after.report), [
          "client-broken",
          "mount-broken",
          "mount-broken",
          "mount-broken",
          "mount-broken",
        ]);
        assert(after.report.problems.every((p) => p.fix), "every dead mount has a --fix action");
        console.log(`killed supervisor ${pid} and juicefs ${juicefs.join(",")}`);
      });

      await t.step("--fix takes off what it listed; a second --fix removes the leftover; clean", async () => {
        const first = await doctor(d.dir, "--fix");
        assertEquals(first.report.fixed?.length, 5);
        assert(first.report.fixed?.every((f) => f.ok), JSON.stringify(first.report.fixed));
        // With the dead mount gone, the client's directory is a leftover: a new finding.
        assertEquals(ids(first.report), ["client-leftover"]);
        assertEquals(first.code, 1);
        assertEquals(mountsUnder(`${d.dir}/state/clients`), []);
        assertEquals(mountsUnder(kubeletDir(d)), []);
        const second = await doctor(d.dir, "--fix");
        assertEquals(second.report.fixed?.map((f) => [f.problem, f.ok]), [["client-leftover", true]]);
        assertEquals(second.code, 0);
        assertEquals((await doctor(d.dir)).code, 0);
      });
    } finally {
      await d.stop();
    }
  },
});

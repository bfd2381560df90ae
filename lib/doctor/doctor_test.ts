import { assertEquals } from "../testing/assert.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import type { PathHealth } from "../mount/mounter.ts";
import { type InventoryDeps, takeInventory } from "./inventory.ts";
import { diagnose } from "./problems.ts";
import { applyFixes } from "./fix.ts";
import { renderJson, renderText } from "./report.ts";
import { clientLabel, LABEL_CLIENT } from "../clients/pod_spec.ts";

const K = "/kubelet";
const S = "/state";
const key = "fsa-0123456789ab";
const staging = `${K}/plugins/kubernetes.io/csi/jfs.csi.dev/h1/globalmount`;
const target = (uid: string) => `${K}/pods/${uid}/volumes/kubernetes.io~csi/pv1/mount`;

interface World {
  mounter: FakeMounter;
  dirs: Record<string, string[]>;
  files: Record<string, string>;
  supervisors: Set<number>;
}

function world(): World {
  const mounter = new FakeMounter();
  const client = mounter.addMount(`${S}/clients/${key}/mnt`);
  mounter.addMount(staging, "fuse.juicefs", client.device).root = "/pv1";
  mounter.addMount(target("u1"), "fuse.juicefs", client.device).root = "/pv1";
  return {
    mounter,
    dirs: { [`${S}/clients`]: [key] },
    files: {
      [`${S}/clients/${key}/supervisor.pid`]: "42\n",
      [`${K}/plugins/kubernetes.io/csi/jfs.csi.dev/h1/vol_data.json`]: '{"volumeHandle":"fsa@pv1"}',
    },
    supervisors: new Set([42]),
  };
}

function deps(w: World): InventoryDeps {
  return {
    node: "n1",
    kubeletDir: K,
    stateDir: S,
    listMounts: () => w.mounter.list(),
    health: (p) => w.mounter.health(p),
    readDirs: (p) => Promise.resolve(w.dirs[p] ?? []),
    readText: (p) => Promise.resolve(w.files[p.replace(/\/[^/]+\/\.\.\//, "/")]),
    ageOf: () => Promise.resolve(90),
    isSupervisor: (pid) => Promise.resolve(w.supervisors.has(pid)),
  };
}

async function problems(w: World): Promise<string[]> {
  return diagnose(await takeInventory(deps(w))).map((p) => `${p.id} ${p.fix ? "fix" : "manual"}`);
}

Deno.test("doctor: a healthy node has no problems and names volumes and pods", async () => {
  const w = world();
  const inv = await takeInventory(deps(w));
  assertEquals(diagnose(inv), []);
  assertEquals(inv.clients.map((c) => [c.fs, c.pid, c.supervisorAlive, c.health]), [["fsa", 42, true, "ok"]]);
  assertEquals(inv.mounts.map((m) => [m.kind, m.client, m.podUid, m.staged, m.volumeHandle]), [
    ["staging", key, undefined, undefined, "fsa@pv1"],
    ["publish", key, "u1", true, "fsa@pv1"], // from its staging when kubelet's file says nothing
  ]);
  const text = renderText({ inventory: inv, problems: [] });
  assertEquals(text.includes("No problems found."), true);
  assertEquals(JSON.parse(renderJson({ inventory: inv, problems: [] })).inventory.clients.length, 1);
});

Deno.test("doctor: each breakage is found with its fix", async (t) => {
  const cases: { name: string; brk: (w: World) => void; want: string[] }[] = [
    {
      name: "client killed with its supervisor",
      brk: (w) => {
        w.supervisors.clear();
        for (const e of w.mounter.entries) w.mounter.healthOf.set(e.mountPoint, "corrupted" as PathHealth);
      },
      want: ["client-broken fix", "mount-broken fix", "mount-broken fix"],
    },
    {
      name: "client dead, its supervisor restarting it",
      brk: (w) => w.mounter.healthOf.set(`${S}/clients/${key}/mnt`, "corrupted"),
      want: ["client-broken manual"],
    },
    {
      name: "supervisor gone, client still serving",
      brk: (w) => w.supervisors.clear(),
      want: ["client-unsupervised manual"],
    },
    {
      name: "leftover client directory",
      brk: (w) => {
        w.supervisors.clear();
        w.mounter.entries = [];
      },
      want: ["client-leftover fix"],
    },
    {
      name: "staging removed under a publish",
      brk: (w) => void (w.mounter.entries = w.mounter.entries.filter((e) => e.mountPoint !== staging)),
      want: ["publish-without-staging manual"],
    },
    {
      name: "a stale bind outside the kubelet layout",
      brk: (w) => {
        const dev = w.mounter.entries[0]!.device;
        w.mounter.addMount("/tmp/stale", "fuse.juicefs", dev);
      },
      want: ["mount-orphaned fix"],
    },
    {
      name: "a publish from a client that is gone",
      brk: (w) => void w.mounter.addMount(target("u9"), "fuse.juicefs", "9:9"),
      want: ["mount-orphaned fix"],
    },
    {
      name: "a JuiceFS mount of someone else is not ours",
      brk: (w) => void w.mounter.addMount("/mnt/other", "fuse.juicefs", "7:7"),
      want: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const w = world();
      c.brk(w);
      assertEquals(await problems(w), c.want);
    });
  }
});

Deno.test("doctor --fix: does the listed fixes only, and says what failed", async () => {
  const w = world();
  w.supervisors.clear();
  w.mounter.addMount("/tmp/stale", "fuse.juicefs", w.mounter.entries[0]!.device);
  const found = diagnose(await takeInventory(deps(w)));
  const done: string[] = [];
  const fixed = await applyFixes(found, {
    unmount: (p, o) => {
      done.push(`umount ${p}${o.lazy ? " -l" : ""}`);
      return Promise.reject(new Error("busy"));
    },
    removeDir: (p) => Promise.resolve(void done.push(`rm ${p}`)),
  });
  assertEquals(done, ["umount /tmp/stale"]);
  assertEquals(fixed, [{ problem: "mount-orphaned", subject: "bind /tmp/stale", ok: false, error: "busy" }]);
});

Deno.test("doctor: Mount Pods not ready, and an API that does not answer", async () => {
  const w = world();
  const podKey = "fsb-abcdefabcdef";
  w.dirs[`${S}/pods`] = [podKey];
  w.mounter.addMount(`${S}/pods/${podKey}/mnt`);
  const inv = await takeInventory({
    ...deps(w),
    api: {
      mountPods: () =>
        Promise.resolve([{
          metadata: {
            namespace: "csi",
            name: "jfs-mount-a",
            labels: { [LABEL_CLIENT]: clientLabel(podKey) },
          },
          status: { phase: "Running", conditions: [{ type: "Ready", status: "False" }] },
        }]),
      podsByUid: () => Promise.resolve(new Map([["u1", "team/app-0"]])),
    },
  });
  assertEquals(inv.mounts[1]?.pod, "team/app-0");
  assertEquals(inv.clients[0]?.pod, undefined); // a process client has no Mount Pod
  assertEquals([inv.clients[1]?.backend, inv.clients[1]?.fs, inv.clients[1]?.pod?.name], [
    "pod",
    "fsb",
    "jfs-mount-a",
  ]);
  assertEquals(diagnose(inv).map((p) => p.id), ["mount-pod-not-ready"]);
  const down = await takeInventory({
    ...deps(w),
    api: {
      mountPods: () => Promise.reject(new Error("connect refused")),
      podsByUid: () => Promise.resolve(new Map()),
    },
  });
  assertEquals(down.apiNote?.includes("connect refused"), true);
});

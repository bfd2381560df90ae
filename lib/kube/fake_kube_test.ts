import { assert, assertEquals } from "../testing/assert.ts";
import { FakeKube, matchesSelector } from "./fake_kube.ts";
import type { PodEvent, V1Pod } from "./kube.ts";
import { EventRecorder } from "./events.ts";
import { ListWatchLoop } from "./list_watch.ts";

const pod = (name: string, labels: Record<string, string> = { app: "m" }): V1Pod => ({
  metadata: { name, labels },
  spec: { containers: [{ name: "c", image: "i" }] },
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`never: ${what}`);
}

Deno.test("selector: equality terms", () => {
  assert(matchesSelector({ a: "1", b: "2" }, "a=1,b=2"));
  assert(!matchesSelector({ a: "1" }, "a=1,b=2"));
  assert(matchesSelector({}, ""));
});

Deno.test("fake kube: watch reports existing pods, changes and deletions; secrets go with their owner", async () => {
  const kube = new FakeKube();
  await kube.createPod("ns", pod("before"));
  const seen: string[] = [];
  const w = kube.watchPods("ns", "app=m", (e: PodEvent) => seen.push(`${e.type} ${e.pod.metadata?.name}`));
  await until(() => kube.watchers() === 1, "watching");
  const p = await kube.createPod("ns", pod("p"));
  await kube.createPod("ns", pod("other", { app: "x" }));
  await kube.applySecret("ns", {
    metadata: {
      name: "p",
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "p", uid: p.metadata!.uid! }],
    },
    stringData: { k: "v" },
  });
  await kube.patchPodAnnotations("ns", "p", { "a/b": "c" });
  await kube.deletePod("ns", "p");
  w.stop();
  assertEquals(seen, ["ADDED before", "ADDED p", "MODIFIED p", "DELETED p"]);
  assertEquals(await kube.getSecret("ns", "p"), undefined);
  assertEquals(kube.watchers(), 0);
});

Deno.test("list-watch: a relist reports a deletion the stream missed", async () => {
  const pods = new Map<string, V1Pod>([["a", { metadata: { name: "a", uid: "1" } }]]);
  let resync!: () => void;
  const seen: string[] = [];
  const loop = new ListWatchLoop(
    {
      list: () => Promise.resolve({ items: [...pods.values()], resourceVersion: "1" }),
      watch: () => Promise.resolve(() => {}),
    },
    (e) => seen.push(`${e.type} ${e.pod.metadata?.name}`),
    {
      resyncMs: 1000,
      setTimer: (fn) => {
        resync = fn;
        return 0 as unknown as ReturnType<typeof setTimeout>;
      },
      clearTimer: () => {},
    },
  ).start();
  await until(() => seen.length === 1, "first list");
  pods.delete("a");
  resync();
  await until(() => seen.length === 2, "relist");
  loop.stop();
  assertEquals(seen, ["ADDED a", "DELETED a"]);
});

Deno.test("events: one per object and reason per interval, redacted, one line", async () => {
  const kube = new FakeKube();
  let now = 1_000_000;
  const rec = new EventRecorder(kube, {
    component: "csi-jfs-node",
    host: "n1",
    minIntervalMs: 60_000,
    now: () => now,
  });
  const ref = { kind: "Pod", namespace: "app", name: "web", uid: "u1" };
  assert(await rec.record(ref, "Warning", "MountFailed", "no\nmount redis://u:pw1234@h/1"));
  assert(!(await rec.record(ref, "Warning", "MountFailed", "again")));
  assert(await rec.record(ref, "Warning", "OtherReason", "x"));
  now += 60_000;
  assert(await rec.record(ref, "Warning", "MountFailed", "later"));
  assertEquals(kube.events.length, 3);
  assertEquals(kube.events[0]!.message, "no | mount redis://u:***@h/1");
  assertEquals(kube.events[0]!.involvedObject.uid, "u1");
  assertEquals(kube.events[0]!.metadata.namespace, "app");
});

// Mount Pods over time: release after the delay, recreation on deletion, adoption, sweep.
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code, CodedError } from "../errors.ts";
import { clientKey } from "./backend.ts";
import { ClientReleaser } from "./releaser.ts";
import { ANNOTATION_KEY, CONTAINER, volumeAnnotation } from "./pod_spec.ts";
import { NS, SECRET_KEY, specWith, until, withEnv } from "./pod_test_env.ts";

Deno.test("pod backend: release waits for the StorageClass delete delay, then deletes pod and Secret", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make({ releaserDelayMs: 30_000 });
    const spec = specWith({ mountDeleteDelay: "2m" });
    const key = clientKey(spec);
    await b.ensure(spec);
    await b.release(key);
    assertEquals(env.kube.pods.size, 1, "kept during the delay");
    assertEquals(env.timers.map((t) => t.ms), [90_000]);
    env.mounter.entries = []; // the supervisor unmounts on its real release
    env.timers[0]!.fn();
    await until(() => env.kube.pods.size === 0, "pod deleted");
    await until(() => env.keeper.calls.includes(`drop ${key}`), "keeper dropped");
    assertEquals(env.kube.secrets.size, 0);
    // The release file went first, so the supervisor unmounted instead of handing over.
    assert(env.keeper.calls.indexOf(`release ${key}`) < env.keeper.calls.indexOf(`drop ${key}`));
  });
});

Deno.test("pod backend: an ensure during the delete delay keeps the pod", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    const spec = specWith({ mountDeleteDelay: "1m" });
    await b.ensure(spec);
    await b.release(clientKey(spec));
    await b.ensure(spec);
    env.timers[0]?.fn();
    await new Promise((r) => setTimeout(r, 10));
    assertEquals(env.kube.pods.size, 1);
    assertEquals(env.kube.calls.get("deletePod") ?? 0, 0);
  });
});

Deno.test("pod backend: a Mount Pod deleted while a volume uses it is created again by the watch", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    const spec = specWith();
    const m = await b.ensure(spec, { volumeId: "v1" });
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    const [name] = [...env.kube.pods.keys()];
    const firstUid = env.kube.pods.get(name!)!.metadata!.uid;
    env.kube.removePod(name!); // kubectl delete pod --force --grace-period=0
    await until(() => env.kube.calls.get("createPod") === 2, "pod recreated");
    const again = env.kube.pods.get(name!)!;
    assert(again.metadata!.uid !== firstUid);
    assertEquals(again.metadata!.annotations![volumeAnnotation("v1")], "v1");
    await until(() => env.kube.secrets.size === 1, "secret written again");
    assertEquals([...env.kube.secrets.values()][0]!.metadata!.ownerReferences![0]!.uid, again.metadata!.uid);
  });
});

Deno.test("pod backend: a Mount Pod deleted with no volume left is not created again", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    await b.ensure(specWith());
    env.kube.removePod([...env.kube.pods.keys()][0]!);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(env.kube.calls.get("createPod"), 1);
  });
});

Deno.test("pod backend: a restarted plugin adopts the running pod (no duplicate) and can recreate it", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const first = env.make();
    const spec = specWith();
    const m = await first.ensure(spec, { volumeId: "v1" });
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    await first.stop();
    const second = env.make();
    await second.start();
    assert(second.clients.has(clientKey(spec)), "adopted from the API and the Secret");
    assertEquals((await second.list()).map((c) => c.key), [clientKey(spec)]);
    await second.ensure(spec, { volumeId: "v2" });
    assertEquals(env.kube.calls.get("createPod"), 1, "no second pod");
    env.kube.removePod([...env.kube.pods.keys()][0]!);
    await until(() => env.kube.calls.get("createPod") === 2, "recreated from the adopted settings");
    await until(() => env.kube.secrets.size === 1, "secret written again");
    const settings = JSON.parse([...env.kube.secrets.values()][0]!.stringData!["settings.json"]!);
    assertEquals(settings.settings.secretEnv.SECRET_KEY, SECRET_KEY);
  });
});

Deno.test("pod backend: sweep deletes a pod that never mounted and leftovers, keeps mounted ones", async () => {
  await withEnv(async (env) => {
    const b = env.make({ readyTimeoutMs: 1_000 });
    env.mountOnCreate();
    const good = specWith();
    await b.ensure(good);
    // A pod left by a crashed plugin: it never mounted.
    env.kube.onCreatePod = undefined;
    const bad = specWith({ mountLabels: "kind=bad" });
    const badName = b.podNameOf(clientKey(bad));
    await env.kube.createPod(NS, {
      ...b.clients.get(clientKey(good))!.template,
      metadata: {
        name: badName,
        labels: b.clients.get(clientKey(good))!.template.metadata!.labels!,
        annotations: { [ANNOTATION_KEY]: clientKey(bad) },
      },
    });
    // A directory with neither pod nor mount.
    await Deno.mkdir(join(env.state, "pods", "gone-000000000000", "mnt"), { recursive: true });
    env.clock.now += 5_000;
    const done = await b.sweep();
    assertEquals(done.length, 2, done.join("\n"));
    assert(!env.kube.pods.has(`${NS}/${badName}`));
    assertEquals(env.kube.pods.size, 1);
    assert(done.some((l) => l.includes("never mounted")), done.join("\n"));
    assert(done.some((l) => l.includes("leftover directory removed")), done.join("\n"));
  });
});

Deno.test("pod backend: an evicted pod is deleted so the watch replaces it", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    const m = await b.ensure(specWith());
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    const name = [...env.kube.pods.values()][0]!.metadata!.name!;
    env.kube.setPodStatus(NS, name, { phase: "Failed", reason: "Evicted", message: "low on memory" });
    await until(() => env.kube.calls.get("createPod") === 2, "replaced");
    assertEquals(env.kube.pods.get(`${NS}/${name}`)!.status!.phase, "Running");
  });
});

Deno.test("pod backend: a pod that ends while being deleted is not taken for a lost one", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    await b.ensure(specWith());
    const stored = [...env.kube.pods.values()][0]!;
    const name = stored.metadata!.name!;
    // A release asked the API to delete it; the supervisor stopped and the pod ended.
    stored.metadata = { ...stored.metadata, deletionTimestamp: new Date() };
    env.kube.setPodStatus(NS, name, { phase: "Succeeded" });
    await new Promise((r) => setTimeout(r, 20));
    assertEquals([env.kube.calls.get("deletePod"), env.kube.calls.get("createPod")], [undefined, 1]);
  });
});

Deno.test("pod backend: an OOMKilled mount container is told once per restart on the Mount Pod", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    await b.ensure(specWith());
    const name = [...env.kube.pods.values()][0]!.metadata!.name!;
    const oom = (restartCount: number) => ({
      phase: "Running",
      containerStatuses: [{
        name: CONTAINER,
        ready: true,
        restartCount,
        image: "i",
        imageID: "",
        state: { running: {} },
        lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } },
      }],
    });
    env.kube.setPodStatus(NS, name, oom(1));
    env.kube.setPodStatus(NS, name, oom(1));
    env.clock.now += 120_000; // past the Event rate limit
    env.kube.setPodStatus(NS, name, oom(2));
    await until(
      () => env.kube.events.filter((e) => e.reason === "MountPodOOMKilled").length === 2,
      "two events",
    );
    const ev = env.kube.events.find((e) => e.reason === "MountPodOOMKilled")!;
    assertMatch(
      ev.message!,
      /ran out of memory \(limit 1Gi\) and restarted \(restart 1\); raise mountMemoryLimit/,
    );
    assertEquals(env.kube.calls.get("createPod"), 1, "restarted in place, not replaced");
  });
});

Deno.test("pod backend: a stage on a live mount (plugin restarted, not started yet) still learns the client", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const spec = specWith();
    const m = await env.make().ensure(spec, { volumeId: "v1" });
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    const b = env.make();
    await b.ensure(spec, { volumeId: "v2" });
    assert(b.clients.has(clientKey(spec)));
    await b.start();
    env.kube.removePod([...env.kube.pods.keys()][0]!);
    await until(() => env.kube.calls.get("createPod") === 2, "recreated");
  });
});

Deno.test("pod backend: the releaser's sweep at start deletes an idle Mount Pod and keeps a used one", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const first = env.make();
    const idle = specWith({ mountLabels: "use=none" });
    const used = specWith({ mountLabels: "use=one" });
    await first.ensure(idle);
    const m = await first.ensure(used);
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    assertEquals(env.kube.pods.size, 2);
    // A restarted plugin: the idle client's release timer was lost with the old one.
    const b = env.make();
    await b.start();
    const releaser = new ClientReleaser(b, env.mounter, 0);
    const idleMount = env.mounter.entries.find((e) => e.mountPoint === b.mountPathOf(clientKey(idle)))!;
    env.kube.onDeletePod = (pod) => {
      // The supervisor unmounts on its real release.
      if (pod.metadata!.annotations![ANNOTATION_KEY] === clientKey(idle)) {
        env.mounter.entries = env.mounter.entries.filter((e) => e !== idleMount);
      }
      return Promise.resolve();
    };
    await releaser.sweep();
    await until(() => env.kube.pods.size === 1, "the idle pod deleted");
    assertEquals([...env.kube.pods.values()][0]!.metadata!.annotations![ANNOTATION_KEY], clientKey(used));
    assertEquals(env.kube.secrets.size, 1);
    releaser.stop();
  });
});

Deno.test("pod backend: recreating a deleted pod retries while the API fails", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    await b.start();
    const m = await b.ensure(specWith(), { volumeId: "v1" });
    await env.mounter.bind(m.mountPath, "/kubelet/staging/v1");
    env.kube.failures.set("createPod", [
      new CodedError(Code.UNAVAILABLE, "kubernetes: create pod: etcd down (HTTP 500)"),
    ]);
    env.kube.removePod([...env.kube.pods.keys()][0]!);
    await until(() => env.timers.some((t) => t.ms >= 1000), "a retry scheduled");
    env.timers.find((t) => t.ms >= 1000)!.fn();
    await until(() => env.kube.pods.size === 1, "recreated on the retry");
    assertEquals(env.kube.calls.get("createPod"), 3);
  });
});

import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { FakeKube } from "../kube/fake_kube.ts";
import { EventRecorder } from "../kube/events.ts";
import type { V1Pod } from "../kube/kube.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import { clientKey, type ClientSpec } from "./backend.ts";
import { type Keeper, PodBackend, type PodBackendOptions } from "./pod_backend.ts";
import { mountPodSettings } from "./pod_settings.ts";
import { ClientReleaser } from "./releaser.ts";
import { ANNOTATION_KEY, CONTAINER, volumeAnnotation } from "./pod_spec.ts";

const PASSWORD = "pod-pass-7781";
const SECRET_KEY = "sk-abcdef-9912";
const NS = "csi-jfs";
const NODE = "node-1";

function specWith(params: Record<string, string> = {}): ClientSpec {
  return {
    settings: settingsFromSecrets({
      name: "myfs",
      metaurl: `redis://:${PASSWORD}@redis:6379/1`,
      "access-key": "AKIA0000",
      "secret-key": SECRET_KEY,
    }),
    mountFlags: ["--cache-size=0"],
    podSettings: mountPodSettings(params),
  };
}

class FakeKeeper implements Keeper {
  calls: string[] = [];
  constructor(private root: string) {}
  socketPath(key: string): string {
    return join(this.root, key, "fd-keeper.sock");
  }
  start(key: string): Promise<void> {
    this.calls.push(`start ${key}`);
    return Promise.resolve();
  }
  requestRelease(key: string): Promise<void> {
    this.calls.push(`release ${key}`);
    return Promise.resolve();
  }
  drop(key: string): Promise<void> {
    this.calls.push(`drop ${key}`);
    return Promise.resolve();
  }
  adoptAll(): Promise<void> {
    this.calls.push("adoptAll");
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

const running = {
  phase: "Running",
  containerStatuses: [{
    name: CONTAINER,
    ready: true,
    restartCount: 0,
    image: "i",
    imageID: "",
    state: { running: {} },
  }],
};

interface Env {
  kube: FakeKube;
  mounter: FakeMounter;
  keeper: FakeKeeper;
  state: string;
  clock: { now: number };
  timers: { fn: () => void; ms: number }[];
  make: (o?: Partial<PodBackendOptions>) => PodBackend;
  /** A kubelet whose pods mount at once (the supervisor mounting the host path). */
  mountOnCreate: () => void;
}

async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "pod_backend_test" });
  const kube = new FakeKube();
  const mounter = new FakeMounter();
  const keeper = new FakeKeeper(join(state, "fd-keeper"));
  const clock = { now: 1_000_000 };
  kube.now = () => clock.now;
  const timers: { fn: () => void; ms: number }[] = [];
  const backends: PodBackend[] = [];
  const env: Env = {
    kube,
    mounter,
    keeper,
    state,
    clock,
    timers,
    make: (o = {}) => {
      const b = new PodBackend({
        kube,
        namespace: NS,
        nodeName: NODE,
        stateDir: state,
        image: "csi-jfs:test",
        mounter,
        keeper,
        events: new EventRecorder(kube, { component: "csi-jfs-node", host: NODE, now: () => clock.now }),
        readyTimeoutMs: 60_000,
        pollMs: 100,
        now: () => clock.now,
        sleep: async (ms) => {
          clock.now += ms;
          await new Promise((r) => setTimeout(r, 0));
        },
        setTimer: (fn, ms) => {
          if (ms === 0) return setTimeout(fn, 0);
          timers.push({ fn, ms });
          return 0 as unknown as ReturnType<typeof setTimeout>;
        },
        ...o,
      });
      backends.push(b);
      return b;
    },
    mountOnCreate: () => {
      kube.onCreatePod = (pod: V1Pod) => {
        const key = pod.metadata!.annotations![ANNOTATION_KEY]!;
        kube.setPodStatus(NS, pod.metadata!.name!, running);
        const mp = join(state, "pods", key, "mnt");
        if (!mounter.entries.some((e) => e.mountPoint === mp)) mounter.addMount(mp);
        mounter.healthOf.delete(mp);
      };
    },
  };
  try {
    await fn(env);
  } finally {
    for (const b of backends) await b.stop();
    await Deno.remove(state, { recursive: true });
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`never: ${what}`);
}

Deno.test("pod backend: 10 concurrent ensures create exactly one Mount Pod and one Secret", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make();
    const spec = specWith();
    const mounts = await Promise.all(
      Array.from({ length: 10 }, (_, i) => b.ensure(spec, { volumeId: `vol-${i}` })),
    );
    assertEquals(env.kube.calls.get("createPod"), 1);
    assertEquals(env.kube.pods.size, 1);
    assertEquals(env.kube.secrets.size, 1);
    assertEquals(new Set(mounts.map((m) => m.mountPath)).size, 1);
    assertEquals(mounts[0]!.mountPath, join(env.state, "pods", clientKey(spec), "mnt"));
    const pod = [...env.kube.pods.values()][0]!;
    for (let i = 0; i < 10; i++) {
      assertEquals(pod.metadata!.annotations![volumeAnnotation(`vol-${i}`)], `vol-${i}`);
    }
    console.log(`10 concurrent ensures: ${env.kube.calls.get("createPod")} pod created`);
  });
});

Deno.test("pod backend: a second backend (another plugin instance) adopts the pod on AlreadyExists", async () => {
  await withEnv(async (env) => {
    const a = env.make(), b = env.make();
    env.mountOnCreate();
    const spec = specWith();
    await Promise.all([a.ensure(spec), b.ensure(spec), a.ensure(spec), b.ensure(spec)]);
    assertEquals(env.kube.pods.size, 1);
  });
});

Deno.test("pod backend: the spec is pinned, privileged, Bidirectional, and holds no secret", async () => {
  await withEnv(async (env) => {
    env.mountOnCreate();
    const b = env.make({ supervisorArgs: ["--juicefs=/usr/local/bin/juicefs"], hostStateDir: "/host/state" });
    const spec = specWith({ mountMemoryLimit: "2Gi", mountLabels: "team=data", mountImage: "reg/csi-jfs:9" });
    const key = clientKey(spec);
    await b.ensure(spec);
    const pod = [...env.kube.pods.values()][0]!;
    const text = JSON.stringify(pod);
    for (const secret of [PASSWORD, SECRET_KEY, "AKIA0000"]) {
      assert(!text.includes(secret), `pod spec holds ${secret}`);
    }
    const s = pod.spec!;
    const c = s.containers[0]!;
    assertEquals(s.nodeName, NODE);
    assertEquals(s.priorityClassName, "system-node-critical");
    assertEquals(s.restartPolicy, "Always");
    assertEquals(s.hostNetwork, true);
    assertEquals(c.securityContext?.privileged, true);
    assertEquals(c.image, "reg/csi-jfs:9");
    assertEquals(c.resources?.limits, { memory: "2Gi" });
    assert(c.args!.includes("--mode=mount-supervisor") && c.args!.includes("--keep-mount-on-term"));
    assert(c.args!.includes(`--fd-keeper=${join(env.state, "fd-keeper", key, "fd-keeper.sock")}`));
    assertEquals(c.env, [{
      name: "CSI_JFS_SUPERVISOR_SETTINGS",
      valueFrom: { secretKeyRef: { name: pod.metadata!.name!, key: "settings.json" } },
    }]);
    const client = c.volumeMounts!.find((m) => m.name === "client")!;
    assertEquals(client.mountPath, join(env.state, "pods", key));
    assertEquals(client.mountPropagation, "Bidirectional");
    assert(s.volumes!.some((v) => v.hostPath?.path === "/dev/fuse"));
    const labels = pod.metadata!.labels!;
    assertEquals(labels["app.kubernetes.io/name"], "csi-jfs-mount");
    assertEquals(labels["app.kubernetes.io/part-of"], "csi-jfs");
    assertEquals(labels["jfs.csi.dev/node"], NODE);
    assertEquals(labels["jfs.csi.dev/fs"], "myfs");
    assertEquals(labels["team"], "data");
    assertMatch(labels["jfs.csi.dev/client"]!, /^[0-9a-f]{16}$/);
    // The Secret holds the settings, for this pod's uid, so it goes with the pod.
    const secret = [...env.kube.secrets.values()][0]!;
    assertEquals(secret.metadata!.ownerReferences![0]!.uid, pod.metadata!.uid);
    const settings = JSON.parse(secret.stringData!["settings.json"]!);
    assertEquals(settings.settings.secretEnv.SECRET_KEY, SECRET_KEY);
    assert(!settings.mountFlags.some((f: string) => f.startsWith("--cache-dir")), "juicefs's default");
    const cache = s.volumes!.find((v) => v.name === "cache")!;
    assertEquals(cache.hostPath?.path, "/host/state/cache");
    assertEquals(s.volumes!.find((v) => v.name === "client")!.hostPath?.path, `/host/state/pods/${key}`);
    assertEquals(
      s.volumes!.find((v) => v.name === "fd-keeper")!.hostPath?.path,
      `/host/state/fd-keeper/${key}`,
    );
  });
});

Deno.test("pod backend: an image that does not pull fails at once, says why, and leaves no pod", async () => {
  await withEnv(async (env) => {
    env.kube.onCreatePod = (pod) =>
      env.kube.setPodStatus(NS, pod.metadata!.name!, {
        phase: "Pending",
        containerStatuses: [{
          name: CONTAINER,
          ready: false,
          restartCount: 0,
          image: "i",
          imageID: "",
          state: { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "nope:1"' } },
        }],
      });
    const b = env.make();
    const e = await assertCodedError(
      () => b.ensure(specWith(), { volumeId: "v1", pod: { name: "web", namespace: "app", uid: "u-web" } }),
      Code.UNAVAILABLE,
      /Mount Pod csi-jfs\/csi-jfs-mount-myfs-\w+ for file system "myfs" did not mount: Pending, container jfs-mount waiting: ImagePullBackOff/,
    );
    assert(!e.message.includes("\n"));
    assertEquals(env.kube.pods.size, 0);
    assertEquals(env.kube.secrets.size, 0);
    const reasons = env.kube.events.map((ev) =>
      `${ev.involvedObject.namespace}/${ev.involvedObject.name} ${ev.reason}`
    );
    assert(reasons.includes("app/web JuiceFSMountFailed"), reasons.join(","));
    assert(
      reasons.some((r) => r.startsWith("csi-jfs/csi-jfs-mount-myfs-") && r.endsWith(" MountFailed")),
      reasons.join(","),
    );
  });
});

Deno.test("pod backend: juicefs that exits without mounting fails with its redacted log line", async () => {
  await withEnv(async (env) => {
    env.kube.onCreatePod = (pod) => {
      const name = pod.metadata!.name!;
      env.kube.setPodStatus(NS, name, running);
      env.kube.setLog(
        NS,
        name,
        [
          `2026-12-01T00:00:00.000Z [INF] csi-jfs·supervisor: juicefs: 2026/12/01 <FATAL>: Meta redis://:${PASSWORD}@redis:6379/1 is not available: dial tcp 127.0.0.1:6379: connect: connection refused`,
          "2026-12-01T00:00:00.100Z [WRN] csi-jfs·supervisor: juicefs client 41 exited (code 1, signal none) after 90ms; restarting in 500ms",
          "2026-12-01T00:00:00.700Z [WRN] csi-jfs·supervisor: juicefs client 42 exited (code 1, signal none) after 80ms; restarting in 1000ms",
        ].join("\n"),
      );
    };
    const b = env.make();
    const e = await assertCodedError(
      () => b.ensure(specWith()),
      Code.UNAVAILABLE,
      /juicefs exited 2 times without mounting/,
    );
    assertMatch(e.message, /connection refused/);
    assert(!e.message.includes(PASSWORD), e.message);
    assertEquals(env.kube.pods.size, 0, "a pod that cannot mount is not left crash-looping");
  });
});

Deno.test("pod backend: a pod that stays Pending fails after --mount-timeout with its state", async () => {
  await withEnv(async (env) => {
    const b = env.make({ readyTimeoutMs: 5_000 });
    await assertCodedError(() => b.ensure(specWith()), Code.UNAVAILABLE, /did not mount within 5s: Pending/);
    assertEquals(env.kube.pods.size, 0);
  });
});

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

Deno.test("pod backend race: concurrent first stages on two plugin instances, 300 rounds, one pod each", async () => {
  let attempts = 0, pods = 0;
  for (let round = 0; round < 300; round++) {
    await withEnv(async (env) => {
      env.mountOnCreate();
      // Random yields inside every pod and Secret call interleave the stages differently each round.
      env.kube.pause = async () => {
        for (let i = Math.floor(Math.random() * 4); i > 0; i--) await Promise.resolve();
        if (Math.random() < 0.3) await new Promise((r) => setTimeout(r, 0));
      };
      const a = env.make(), b = env.make();
      const spec = specWith();
      const n = 2 + (round % 9);
      await Promise.all(
        Array.from({ length: n }, (_, i) => (i % 2 ? a : b).ensure(spec, { volumeId: `v${i}` })),
      );
      attempts += n;
      pods += env.kube.pods.size;
      assertEquals(env.kube.pods.size, 1, `round ${round}`);
      assertEquals(env.kube.secrets.size, 1, `round ${round}`);
      const pod = [...env.kube.pods.values()][0]!;
      assertEquals([...env.kube.secrets.values()][0]!.metadata!.ownerReferences![0]!.uid, pod.metadata!.uid);
    });
  }
  console.log(
    `300 rounds, ${attempts} concurrent stages on 2 plugin instances: ${pods} Mount Pods (one per round)`,
  );
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

// Mount Pods: one per client under concurrency, their spec, and why they fail.
import { join } from "node:path";
import { assert, assertCodedError, assertEquals, assertMatch } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { clientKey } from "./backend.ts";
import { CONTAINER, volumeAnnotation } from "./pod_spec.ts";
import { NODE, NS, PASSWORD, running, SECRET_KEY, specWith, withEnv } from "./pod_test_env.ts";

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

Deno.test("pod backend: juicefs that keeps retrying a refused metadata engine fails without waiting out the timeout", async () => {
  await withEnv(async (env) => {
    env.kube.onCreatePod = (pod) => {
      const name = pod.metadata!.name!;
      env.kube.setPodStatus(NS, name, running);
      env.kube.setLog(
        NS,
        name,
        `2026-12-01T00:00:41.000Z [INF] csi-jfs·supervisor: juicefs: 2026/12/01 juicefs[7] <WARNING>: parse info: dial tcp 127.0.0.1:1: connect: connection refused [checkServerConfig@redis.go:3667]`,
      );
    };
    const b = env.make({ readyTimeoutMs: 3_600_000 });
    const e = await assertCodedError(
      () => b.ensure(specWith()),
      Code.UNAVAILABLE,
      /juicefs cannot reach its metadata engine.*connection refused/,
    );
    assert(!/within/.test(e.message), e.message);
    assertEquals(env.kube.pods.size, 0);
  });
});

Deno.test("pod backend: a pod that stays Pending fails after --mount-timeout with its state", async () => {
  await withEnv(async (env) => {
    const b = env.make({ readyTimeoutMs: 5_000 });
    await assertCodedError(() => b.ensure(specWith()), Code.UNAVAILABLE, /did not mount within 5s: Pending/);
    assertEquals(env.kube.pods.size, 0);
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

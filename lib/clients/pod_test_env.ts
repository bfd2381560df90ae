// The pod backend's unit test rig: the in-memory Kube, a fake mount table, a recording keeper,
// a fake clock, captured timers, and a kubelet that mounts a pod's file system at once.
import { join } from "node:path";
import { FakeKube } from "../kube/fake_kube.ts";
import { EventRecorder } from "../kube/events.ts";
import type { V1Pod } from "../kube/kube.ts";
import { FakeMounter } from "../mount/fake_mounter.ts";
import { settingsFromSecrets } from "../juicefs/settings.ts";
import type { ClientSpec } from "./backend.ts";
import { type Keeper, PodBackend, type PodBackendOptions } from "./pod_backend.ts";
import { mountPodSettings } from "./pod_settings.ts";
import { ANNOTATION_KEY, CONTAINER } from "./pod_spec.ts";

export const PASSWORD = "pod-pass-7781";
export const SECRET_KEY = "sk-abcdef-9912";
export const NS = "csi-jfs";
export const NODE = "node-1";

export function specWith(params: Record<string, string> = {}): ClientSpec {
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

export class FakeKeeper implements Keeper {
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

export const running = {
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

export interface Env {
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

export async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
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

export async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`never: ${what}`);
}

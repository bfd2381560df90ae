import { assertCodedError, assertEquals } from "../testing/assert.ts";
import {
  containerResources,
  DEFAULT_POD_SETTINGS,
  mountPodSettings,
  parseDelay,
  podSettingsIdentity,
} from "./pod_settings.ts";
import { Code } from "../errors.ts";

Deno.test("pod settings: defaults when nothing is given", () => {
  assertEquals(mountPodSettings(undefined), { ...DEFAULT_POD_SETTINGS });
  assertEquals(mountPodSettings({ pathPattern: "x", onDelete: "retain" }), { ...DEFAULT_POD_SETTINGS });
});

Deno.test("pod settings: our names and JuiceFS CSI's names give the same settings", () => {
  const ours = mountPodSettings({
    mountImage: "reg.local/csi-jfs:1",
    mountCpuRequest: "250m",
    mountCpuLimit: "2",
    mountMemoryRequest: "256Mi",
    mountMemoryLimit: "2Gi",
    mountLabels: "team=data,tier=gold",
    mountAnnotations: "example.com/owner: alice",
    mountDeleteDelay: "1m30s",
    mountCacheDir: "/mnt/cache",
    mountHostPaths: "/data/b,/data/a",
  });
  const theirs = mountPodSettings({
    "juicefs/mount-image": "reg.local/csi-jfs:1",
    "juicefs/mount-cpu-request": "250m",
    "juicefs/mount-cpu-limit": "2",
    "juicefs/mount-memory-request": "256Mi",
    "juicefs/mount-memory-limit": "2Gi",
    "juicefs/mount-labels": '{"team":"data","tier":"gold"}',
    "juicefs/mount-annotations": "example.com/owner=alice",
    "juicefs/mount-delete-delay": "90s",
    "juicefs/mount-cache-dir": "/mnt/cache",
    "juicefs/host-path": "/data/a, /data/b",
  });
  assertEquals(ours, theirs);
  assertEquals(ours.deleteDelayMs, 90_000);
  assertEquals(ours.labels, { team: "data", tier: "gold" });
  assertEquals(ours.hostPaths, ["/data/a", "/data/b"]);
  assertEquals(containerResources(ours), {
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { cpu: "2", memory: "2Gi" },
  });
});

Deno.test("pod settings: 0 removes a default request or limit", () => {
  const s = mountPodSettings({ mountMemoryLimit: "0", mountCpuRequest: "0" });
  assertEquals(containerResources(s), { requests: { memory: "128Mi" } });
});

const BAD: [Record<string, string>, RegExp][] = [
  [{ "juicefs/mount-service-account": "x" }, /"juicefs\/mount-service-account" is not known/],
  [{ mountCpuLimit: "two" }, /mountCpuLimit: "two" is not a cpu quantity/],
  [{ mountMemoryLimit: "1GB" }, /mountMemoryLimit: "1GB" is not a memory quantity/],
  [{ mountMemoryRequest: "2Gi", mountMemoryLimit: "1Gi" }, /memory request 2Gi is above its limit 1Gi/],
  [{ mountLabels: "a=b c" }, /not a valid label value/],
  [{ mountLabels: "jfs.csi.dev/node=x" }, /set by the driver itself/],
  [{ mountLabels: "app.kubernetes.io/name=x" }, /set by the driver itself/],
  [{ mountAnnotations: "-bad=x" }, /not a valid label\/annotation key/],
  [{ mountAnnotations: "{not json" }, /not valid JSON/],
  [{ mountAnnotations: '{"a":1}' }, /the value of "a" is not a string/],
  [{ mountDeleteDelay: "5 minutes" }, /is not a duration/],
  [{ mountDeleteDelay: "200h" }, /longer than 7 days/],
  [{ mountCacheDir: "relative/dir" }, /not a normalized absolute host directory/],
  [{ mountCacheDir: "/var/../etc" }, /not a normalized absolute host directory/],
  [{ mountCacheDir: "/" }, /not a normalized absolute host directory/],
  [{ mountCacheDir: "/a//b" }, /not a normalized absolute host directory/],
  [{ mountImage: "bad image" }, /not an image reference/],
  [{ mountHostPaths: "/ok,../etc" }, /mountHostPaths: "..\/etc" is not a normalized absolute/],
  [{ mountImage: "a", "juicefs/mount-image": "b" }, /mountImage and juicefs\/mount-image set the same thing/],
];

for (const [params, want] of BAD) {
  Deno.test(`pod settings: ${JSON.stringify(params).slice(0, 70)} is INVALID_ARGUMENT`, async () => {
    await assertCodedError(
      () => Promise.resolve().then(() => mountPodSettings(params)),
      Code.INVALID_ARGUMENT,
      want,
    );
  });
}

Deno.test("pod settings: durations", () => {
  assertEquals(parseDelay("k", "0"), 0);
  assertEquals(parseDelay("k", "500ms"), 500);
  assertEquals(parseDelay("k", "1h30m"), 5_400_000);
});

Deno.test("pod settings: identity ignores the order of labels and tells settings apart", () => {
  const a = mountPodSettings({ mountLabels: "a=1,b=2" });
  const b = mountPodSettings({ mountLabels: "b=2,a=1" });
  const c = mountPodSettings({ mountLabels: "a=1,b=3" });
  assertEquals(podSettingsIdentity(a), podSettingsIdentity(b));
  if (podSettingsIdentity(a) === podSettingsIdentity(c)) throw new Error("different labels, same identity");
});

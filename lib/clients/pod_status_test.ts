import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import type { V1Pod } from "../kube/kube.ts";
import { diagnosePod } from "./pod_status.ts";

const pod = (status: NonNullable<V1Pod["status"]>): V1Pod => ({ metadata: { name: "m" }, status });
const container = (state: object, extra: object = {}) => ({
  name: "jfs-mount",
  ready: false,
  restartCount: 0,
  image: "i",
  imageID: "",
  state,
  ...extra,
});

const CASES: [string, V1Pod | undefined, boolean, RegExp, boolean][] = [
  ["gone", undefined, false, /does not exist/, false],
  ["pending, nothing yet", pod({ phase: "Pending" }), false, /^Pending, no container started yet$/, false],
  [
    "image pull",
    pod({
      phase: "Pending",
      containerStatuses: [container({ waiting: { reason: "ImagePullBackOff", message: "pull x" } })],
    }),
    false,
    /container jfs-mount waiting: ImagePullBackOff: pull x/,
    true,
  ],
  [
    "crash loop after OOM",
    pod({
      phase: "Running",
      containerStatuses: [container({ waiting: { reason: "CrashLoopBackOff" } }, {
        restartCount: 4,
        lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } },
      })],
    }),
    false,
    /CrashLoopBackOff \(restarts 4, last exit OOMKilled\).*raise mountMemoryLimit/,
    true,
  ],
  [
    "config error, early",
    pod({
      phase: "Pending",
      containerStatuses: [
        container({ waiting: { reason: "CreateContainerConfigError", message: 'secret "m" not found' } }),
      ],
    }),
    false,
    /CreateContainerConfigError: secret "m" not found/,
    false,
  ],
  [
    "config error, lasting",
    pod({
      phase: "Pending",
      containerStatuses: [container({ waiting: { reason: "CreateContainerConfigError" } })],
    }),
    true,
    /CreateContainerConfigError/,
    true,
  ],
  [
    "evicted",
    pod({ phase: "Failed", reason: "Evicted", message: "low memory" }),
    false,
    /^Failed, Evicted: low memory/,
    true,
  ],
  [
    "unschedulable",
    pod({
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "x" }],
    }),
    false,
    /PodScheduled false: Unschedulable \(x\)/,
    false,
  ],
  [
    "running",
    pod({ phase: "Running", containerStatuses: [container({ running: {} })] }),
    false,
    /container jfs-mount running$/,
    false,
  ],
];

for (const [name, p, configStuck, want, stuck] of CASES) {
  Deno.test(`diagnosePod: ${name}`, () => {
    const d = diagnosePod(p, configStuck);
    assertMatch(d.state, want);
    assertEquals(d.stuck, stuck);
    assert(!d.state.includes("\n"));
  });
}

import { assertEquals } from "../testing/assert.ts";
import { FakeKube } from "../kube/fake_kube.ts";
import { EventRecorder } from "../kube/events.ts";
import { failureEvent, failureEventListener } from "./failure_events.ts";
import type { CallDone } from "../metrics/csi_calls.ts";

const podContext = {
  "csi.storage.k8s.io/pod.name": "app-0",
  "csi.storage.k8s.io/pod.namespace": "team-a",
  "csi.storage.k8s.io/pod.uid": "u-1",
};

function call(over: Partial<CallDone>): CallDone {
  return {
    method: "NodePublishVolume",
    code: "FAILED_PRECONDITION",
    seconds: 0.01,
    request: { volume_id: "fs1@pvc-1", volume_context: podContext },
    message: "volume fs1@pvc-1 is not staged",
    ...over,
  };
}

Deno.test("failureEvent: which calls raise an Event on which pod", async (t) => {
  const cases: { name: string; call: CallDone; reason?: string }[] = [
    { name: "publish failure with pod info", call: call({}), reason: "PublishVolumeFailed" },
    {
      name: "stage failure naming the pod",
      call: call({ method: "NodeStageVolume" }),
      reason: "StageVolumeFailed",
    },
    { name: "success", call: call({ code: "OK" }) },
    { name: "another method", call: call({ method: "NodeUnpublishVolume" }) },
    { name: "no pod info (podInfoOnMount off)", call: call({ request: { volume_id: "v" } }) },
    { name: "no request at all", call: call({ request: undefined }) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const e = failureEvent(c.call);
      assertEquals(e?.reason, c.reason);
      if (e) {
        assertEquals(e.ref, { kind: "Pod", namespace: "team-a", name: "app-0", uid: "u-1" });
        assertEquals(e.message.includes("(FAILED_PRECONDITION)"), true);
      }
    });
  }
});

Deno.test("failure events: recorded on the pod, one line, redacted, rate-limited", async () => {
  const kube = new FakeKube();
  let now = 1_000_000;
  const recorder = new EventRecorder(kube, { component: "csi-jfs-node", host: "n1", now: () => now });
  const listen = failureEventListener(recorder);
  const secret = call({ message: "mount failed:\nredis://user:hunter2@db:6379/1 refused" });
  // kubelet retries a failing publish every few seconds: one Event per minute and reason.
  for (let i = 0; i < 20; i++) {
    listen(secret);
    now += 2_000;
  }
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(kube.events.length, 1);
  const ev = kube.events[0]!;
  assertEquals(ev.involvedObject.name, "app-0");
  assertEquals(ev.metadata?.namespace, "team-a");
  assertEquals(ev.type, "Warning");
  assertEquals(ev.reason, "PublishVolumeFailed");
  assertEquals(ev.message?.includes("\n"), false);
  assertEquals(ev.message?.includes("hunter2"), false, ev.message);
  now += 60_000;
  listen(secret);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(kube.events.length, 2);
});

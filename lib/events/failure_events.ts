/**
 * Kubernetes Events for failed stages and publishes, on the app pod, so `kubectl describe pod`
 * shows why a pod waits in ContainerCreating in the driver's words (one redacted line). kubelet
 * names the pod in the volume context when the CSIDriver has podInfoOnMount: true (deploy/
 * csidriver.yaml): always on NodePublishVolume, and on a stage only if the context carries it.
 * The recorder (lib/kube/events.ts) rate-limits per pod and reason, so kubelet's retry loop
 * does not flood the API server.
 */
import type { CallDone } from "../metrics/csi_calls.ts";
import type { ObjectRef } from "../kube/kube.ts";
import { clientUseFrom } from "../clients/backend.ts";

export interface Recorder {
  record(ref: ObjectRef, type: "Normal" | "Warning", reason: string, message: string): Promise<boolean>;
}

const REASONS: Record<string, string> = {
  NodeStageVolume: "StageVolumeFailed",
  NodePublishVolume: "PublishVolumeFailed",
};

interface VolumeRequest {
  volume_id?: string;
  volume_context?: Record<string, string>;
}

/** The Event a finished call should raise, if any. */
export function failureEvent(
  call: CallDone,
): { ref: ObjectRef; reason: string; message: string } | undefined {
  const reason = REASONS[call.method];
  if (!reason || call.code === "OK") return undefined;
  const req = (call.request ?? {}) as VolumeRequest;
  const pod = clientUseFrom(req.volume_id ?? "", req.volume_context).pod;
  if (!pod) return undefined;
  const what = call.method === "NodeStageVolume" ? "staging" : "publishing";
  return {
    ref: { kind: "Pod", namespace: pod.namespace, name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) },
    reason,
    message: `${what} volume ${req.volume_id ?? "?"} failed (${call.code}): ${call.message ?? ""}`,
  };
}

/** A listener for lib/metrics/csi_calls.ts onCallDone that records the Events. */
export function failureEventListener(recorder: Recorder): (call: CallDone) => void {
  return (call) => {
    const event = failureEvent(call);
    if (event) void recorder.record(event.ref, "Warning", event.reason, event.message);
  };
}

/**
 * The node plugin's own metrics, read from the node when Prometheus scrapes (nothing to keep in
 * step): clients running, JuiceFS mounts by kind and health, client restarts (the supervisor's
 * count in process mode, the Mount Pod's container restarts in pod mode), and stage/publish
 * failures by reason (the gRPC code, a small fixed set), counted from finished calls.
 */
import { join } from "node:path";
import type { Registry } from "prom-client";
import { client, registry as driverRegistry } from "./registry.ts";
import { onCallDone } from "./csi_calls.ts";
import type { ClientMount } from "../clients/backend.ts";
import type { Mounter } from "../mount/mounter.ts";
import { isJuiceFs } from "../mount/mountinfo.ts";
import type { Kube } from "../kube/kube.ts";
import { clientLabel, LABEL_CLIENT, LABEL_FS, nodeSelector } from "../clients/pod_spec.ts";
import { fsOfKey, supervisorRestarts } from "./client_facts.ts";

export interface NodeMetricsDeps {
  mode: "pod" | "process";
  list(): Promise<ClientMount[]>;
  mounter: Pick<Mounter, "list" | "health">;
  /** Process mode: where the supervisors keep their logs (`<stateDir>/clients/<key>/`). */
  stateDir: string;
  /** Pod mode: the Mount Pods of this node. */
  kube?: Pick<Kube, "listPods">;
  namespace?: string;
  nodeName: string;
  registry?: Registry;
}

/** "client" (a JuiceFS client's own mount), "publish" (a pod's target) or "staging". */
export function mountKind(mountPoint: string, clientPaths: Set<string>): "client" | "publish" | "staging" {
  if (clientPaths.has(mountPoint)) return "client";
  return mountPoint.includes("/volumes/kubernetes.io~csi/") ? "publish" : "staging";
}

export function registerNodeMetrics(d: NodeMetricsDeps): () => void {
  const registers = [d.registry ?? driverRegistry];
  new client.Gauge({
    name: "csi_jfs_node_clients",
    help: "JuiceFS clients running on this node for csi-jfs",
    labelNames: ["mode"] as const,
    registers,
    async collect() {
      this.set({ mode: d.mode }, (await d.list()).length);
    },
  });
  new client.Gauge({
    name: "csi_jfs_node_mounts",
    help: "JuiceFS mounts of csi-jfs clients on this node, by kind (client, staging, publish) and health",
    labelNames: ["kind", "health"] as const,
    registers,
    async collect() {
      this.reset();
      const clients = await d.list();
      const paths = new Set(clients.map((c) => c.mountPath));
      const entries = (await d.mounter.list()).filter(isJuiceFs);
      const devices = new Set(entries.filter((e) => paths.has(e.mountPoint)).map((e) => e.device));
      for (const kind of ["client", "staging", "publish"]) {
        for (const health of ["healthy", "broken"]) this.set({ kind, health }, 0);
      }
      for (const e of entries.filter((e) => devices.has(e.device))) {
        const health = (await d.mounter.health(e.mountPoint)) === "ok" ? "healthy" : "broken";
        this.inc({ kind: mountKind(e.mountPoint, paths), health });
      }
    },
  });
  new client.Gauge({
    name: "csi_jfs_node_client_restarts",
    help: "Restarts of each JuiceFS client: by its supervisor (process mode) or of its Mount Pod's container",
    labelNames: ["client", "fs", "kind"] as const,
    registers,
    async collect() {
      this.reset();
      if (d.mode === "pod" && d.kube && d.namespace) {
        // A Mount Pod's client label is a digest of its key: the running clients name it.
        const keyOf = new Map((await d.list()).map((c) => [clientLabel(c.key), c.key]));
        for (const pod of await d.kube.listPods(d.namespace, nodeSelector(d.nodeName))) {
          const labels = pod.metadata?.labels ?? {};
          const restarts = (pod.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
          const key = keyOf.get(labels[LABEL_CLIENT] ?? "") ?? pod.metadata?.name ?? "";
          this.set({ client: key, fs: labels[LABEL_FS] ?? fsOfKey(key), kind: "mount_pod" }, restarts);
        }
        return;
      }
      for (const c of await d.list()) {
        const n = await supervisorRestarts(join(d.stateDir, "clients", c.key, "supervisor.log"));
        this.set({ client: c.key, fs: fsOfKey(c.key), kind: "supervisor" }, n);
      }
    },
  });
  const failures = new client.Counter({
    name: "csi_jfs_node_volume_failures_total",
    help: "NodeStageVolume and NodePublishVolume failures, by reason (the gRPC code)",
    labelNames: ["operation", "reason"] as const,
    registers,
  });
  const operations: Record<string, string> = { NodeStageVolume: "stage", NodePublishVolume: "publish" };
  return onCallDone((call) => {
    const operation = operations[call.method];
    if (operation && call.code !== "OK") failures.inc({ operation, reason: call.code });
  });
}

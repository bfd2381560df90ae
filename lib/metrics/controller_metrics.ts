/**
 * The controller's metrics: volumes created and deleted and quota operations, counted from
 * finished CSI calls (a volume's quota is set by CreateVolume with a capacity and by
 * ControllerExpandVolume), and the admin mounts (the controller's own JuiceFS clients) open now.
 */
import type { Registry } from "prom-client";
import { client, registry as driverRegistry } from "./registry.ts";
import { onCallDone } from "./csi_calls.ts";

interface CapacityRequest {
  capacity_range?: { required_bytes?: string | number; limit_bytes?: string | number } | null;
}

const positive = (v: string | number | undefined): boolean => Number(v ?? 0) > 0;

export function registerControllerMetrics(
  d: { adminMounts: () => Promise<number>; registry?: Registry },
): () => void {
  const registers = [d.registry ?? driverRegistry];
  const created = new client.Counter({
    name: "csi_jfs_controller_volumes_created_total",
    help: "CreateVolume calls that succeeded (a retry of an existing volume counts again)",
    registers,
  });
  const deleted = new client.Counter({
    name: "csi_jfs_controller_volumes_deleted_total",
    help: "DeleteVolume calls that succeeded",
    registers,
  });
  const quotas = new client.Counter({
    name: "csi_jfs_controller_quota_operations_total",
    help: "Quota operations (set at create, expand), by gRPC code",
    labelNames: ["operation", "code"] as const,
    registers,
  });
  new client.Gauge({
    name: "csi_jfs_controller_admin_mounts",
    help: "JuiceFS clients the controller has open to create, delete and expand volumes",
    registers,
    async collect() {
      this.set(await d.adminMounts());
    },
  });
  return onCallDone((call) => {
    const ok = call.code === "OK";
    const range = (call.request as CapacityRequest | undefined)?.capacity_range;
    if (call.method === "CreateVolume") {
      if (ok) created.inc();
      if (positive(range?.required_bytes) || positive(range?.limit_bytes)) {
        quotas.inc({ operation: "set", code: call.code });
      }
    } else if (call.method === "DeleteVolume") {
      if (ok) deleted.inc();
    } else if (call.method === "ControllerExpandVolume") {
      quotas.inc({ operation: "expand", code: call.code });
    }
  });
}

// Shared by the operations tests (metrics, doctor): volumes staged and published in the
// kubelet's own directory layout under the test's directory, so the doctor reads them as it
// reads a node.
import { CACHE, call, type Driver, mountCap } from "../support/driver.ts";

export const PROMPARSE = `${CACHE}/bin/promparse`;

export interface Volume {
  volume_id: string;
  volume_context: Record<string, string>;
}

export const kubeletDir = (d: Driver): string => `${d.dir}/kubelet`;
export const stagingOf = (d: Driver, pv: string): string =>
  `${kubeletDir(d)}/plugins/kubernetes.io/csi/jfs.csi.dev/${pv}-hash/globalmount`;
export const targetOf = (d: Driver, uid: string, pv: string): string =>
  `${kubeletDir(d)}/pods/${uid}/volumes/kubernetes.io~csi/${pv}/mount`;

export async function createVolume(d: Driver, name: string): Promise<Volume> {
  const res = await call<{ volume: Volume }>(d.controller, "CreateVolume", {
    name,
    capacity_range: { required_bytes: String(1024 ** 3) },
    volume_capabilities: [mountCap("MULTI_NODE_MULTI_WRITER")],
    parameters: {},
    secrets: d.secrets,
  });
  return res.volume;
}

/** Stages as kubelet does: vol_data.json beside the staging directory. */
export async function stageVolume(d: Driver, v: Volume, pv: string): Promise<string> {
  const staging = stagingOf(d, pv);
  await Deno.mkdir(staging, { recursive: true });
  await Deno.writeTextFile(`${staging}/../vol_data.json`, JSON.stringify({ volumeHandle: v.volume_id }));
  await call(d.node, "NodeStageVolume", {
    volume_id: v.volume_id,
    staging_target_path: staging,
    volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
    secrets: d.secrets,
    volume_context: v.volume_context,
  });
  return staging;
}

export async function publishVolume(d: Driver, v: Volume, pv: string, uid: string): Promise<string> {
  const target = targetOf(d, uid, pv);
  await Deno.mkdir(`${target}/..`, { recursive: true });
  await Deno.writeTextFile(`${target}/../vol_data.json`, JSON.stringify({ volumeHandle: v.volume_id }));
  await call(d.node, "NodePublishVolume", {
    volume_id: v.volume_id,
    staging_target_path: stagingOf(d, pv),
    target_path: target,
    volume_capability: mountCap("MULTI_NODE_MULTI_WRITER"),
    volume_context: {
      ...v.volume_context,
      "csi.storage.k8s.io/pod.name": `app-${uid}`,
      "csi.storage.k8s.io/pod.namespace": "default",
      "csi.storage.k8s.io/pod.uid": uid,
    },
  });
  return target;
}

/** A free loopback port (closed again: the driver listens on it next). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Parses a scrape with the reference Prometheus parser: "name TYPE samples" per family. */
export async function promparse(text: string): Promise<Map<string, { type: string; samples: number }>> {
  const p = new Deno.Command(PROMPARSE, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await p.output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`promparse rejected the scrape: ${dec.decode(out.stderr)}`);
  const families = new Map<string, { type: string; samples: number }>();
  for (const line of dec.decode(out.stdout).split("\n").filter(Boolean)) {
    const [name, type, n] = line.split(" ");
    families.set(name!, { type: type!, samples: Number(n) });
  }
  return families;
}

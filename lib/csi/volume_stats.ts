import type { NodeGetVolumeStatsResponse } from "./generated/csi/v1/NodeGetVolumeStatsResponse.ts";
import { notFound } from "../errors.ts";
import { DEFAULT_PROBE_TIMEOUT_MS, type ProbeOptions, probeStatfs } from "../mount/stat_probe.ts";

function abnormal(message: string): NodeGetVolumeStatsResponse {
  return { usage: [], volume_condition: { abnormal: true, message } };
}

/**
 * Bytes and inodes as the mount reports them: for a volume with a quota, JuiceFS reports the
 * quota. statfs runs bounded (a child process with a timeout), so a stopped client is reported
 * as an abnormal volume condition within the caller's deadline instead of hanging the call.
 */
export async function volumeStats(
  path: string,
  opts: ProbeOptions = {},
): Promise<NodeGetVolumeStatsResponse> {
  const s = await probeStatfs(path, opts);
  if (s === "missing") throw notFound(`volume path ${path} does not exist`);
  if (s === "corrupted") {
    return abnormal(
      `the JuiceFS mount at ${path} is broken (transport endpoint is not connected); the client is restarting or gone`,
    );
  }
  if (s === "hung") {
    const seconds = (opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS) / 1000;
    return abnormal(
      `the JuiceFS client serving ${path} does not answer (statfs gave no reply within ${seconds}s or the caller's deadline); it is stopped or overloaded`,
    );
  }
  if (s === "ok") throw new Error("unreachable: statfs answered without usage");
  const total = s.blocks * s.bsize;
  const available = s.bavail * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  return {
    usage: [
      { unit: "BYTES", total: String(total), available: String(available), used: String(used) },
      { unit: "INODES", total: String(s.files), available: String(s.ffree), used: String(s.files - s.ffree) },
    ],
    volume_condition: { abnormal: false, message: "mounted and answering" },
  };
}

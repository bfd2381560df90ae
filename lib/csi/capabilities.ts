import type { VolumeCapability__Output } from "./generated/csi/v1/VolumeCapability.ts";
import { invalidArgument } from "../errors.ts";

type Mode = NonNullable<VolumeCapability__Output["access_mode"]>["mode"];

/** JuiceFS is a shared POSIX file system: every access mode but UNKNOWN works. */
const SUPPORTED: ReadonlySet<Mode> = new Set<Mode>([
  "SINGLE_NODE_WRITER",
  "SINGLE_NODE_READER_ONLY",
  "MULTI_NODE_READER_ONLY",
  "MULTI_NODE_SINGLE_WRITER",
  "MULTI_NODE_MULTI_WRITER",
  "SINGLE_NODE_SINGLE_WRITER",
  "SINGLE_NODE_MULTI_WRITER",
]);
const READ_ONLY: ReadonlySet<Mode> = new Set<Mode>(["SINGLE_NODE_READER_ONLY", "MULTI_NODE_READER_ONLY"]);

/** Why a capability cannot be served, or undefined. */
export function capabilityProblem(cap: VolumeCapability__Output): string | undefined {
  if (cap.block || cap.access_type === "block") {
    return "block volumes are not supported: a JuiceFS volume is a file system (use volumeMode: Filesystem)";
  }
  if (!cap.mount && cap.access_type !== "mount") return "access_type is required: set mount";
  const mode = cap.access_mode?.mode;
  if (!mode || mode === "UNKNOWN") return "access_mode is required";
  if (!SUPPORTED.has(mode)) return `access mode ${mode} is not supported`;
  return undefined;
}

export function checkCapability(
  cap: VolumeCapability__Output | null | undefined,
  field = "volume_capability",
): VolumeCapability__Output {
  if (!cap) throw invalidArgument(`${field} is required`);
  const problem = capabilityProblem(cap);
  if (problem) throw invalidArgument(`${field}: ${problem}`);
  return cap;
}

export function checkCapabilities(caps: VolumeCapability__Output[] | undefined): VolumeCapability__Output[] {
  if (!caps || caps.length === 0) throw invalidArgument("volume_capabilities is required");
  caps.forEach((c, i) => checkCapability(c, `volume_capabilities[${i}]`));
  return caps;
}

export const isReadOnlyMode = (cap: VolumeCapability__Output): boolean =>
  READ_ONLY.has(cap.access_mode?.mode ?? "UNKNOWN");

/** The controller RPCs csi-jfs offers (no attach step, no group snapshots). */
export const CONTROLLER_CAPABILITIES = [
  "CREATE_DELETE_VOLUME",
  "EXPAND_VOLUME",
  "SINGLE_NODE_MULTI_WRITER",
  "CREATE_DELETE_SNAPSHOT",
  "LIST_SNAPSHOTS",
  "CLONE_VOLUME",
  "LIST_VOLUMES",
  "GET_CAPACITY",
  "MODIFY_VOLUME",
] as const;

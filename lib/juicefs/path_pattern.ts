import { invalidArgument } from "../errors.ts";
import { checkSubdir } from "./subdir.ts";

/** The provisioner's extra metadata (csi-provisioner --extra-create-metadata). */
export const PVC_NAME = "csi.storage.k8s.io/pvc/name";
export const PVC_NAMESPACE = "csi.storage.k8s.io/pvc/namespace";
export const PV_NAME = "csi.storage.k8s.io/pv/name";

// Both spellings: `${pvc.name}` and JuiceFS CSI's `${.PVC.name}`.
const VARIABLES: Record<string, string> = {
  "pvc.name": PVC_NAME,
  "pvc.namespace": PVC_NAMESPACE,
  "pv.name": PV_NAME,
};

/**
 * Renders a StorageClass `pathPattern` into a volume subdirectory. Without a pattern the
 * subdirectory is the volume name. The result never leaves the file system root.
 */
export function renderPathPattern(
  pattern: string | undefined,
  volumeName: string,
  params: Record<string, string>,
): string {
  if (pattern === undefined || pattern === "") {
    if (volumeName.includes("/")) {
      throw invalidArgument(`volume name "${volumeName.slice(0, 128)}" must not contain "/"`);
    }
    return checkSubdir(volumeName, "volume name");
  }
  if (pattern.length > 1024) throw invalidArgument("parameter pathPattern is longer than 1024 bytes");
  const rendered = pattern.replace(/\$\{\s*([^}]*?)\s*\}/g, (_, expr: string) => {
    const key = expr.replace(/^\./, "").toLowerCase();
    const param = VARIABLES[key];
    if (!param) {
      throw invalidArgument(
        `parameter pathPattern: unknown variable \${${
          expr.slice(0, 64)
        }}; known: \${pvc.name}, \${pvc.namespace}, \${pv.name}`,
      );
    }
    const value = params[param];
    if (!value) {
      throw invalidArgument(
        `parameter pathPattern uses \${${expr}} but the request has no ${param}; run csi-provisioner with --extra-create-metadata`,
      );
    }
    return value;
  });
  if (rendered.includes("$")) {
    throw invalidArgument(`parameter pathPattern "${pattern.slice(0, 128)}" has a malformed \${...}`);
  }
  return checkSubdir(rendered, "parameter pathPattern rendered to");
}

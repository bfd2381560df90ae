import { invalidArgument } from "../errors.ts";

/** Top-level names the driver keeps for itself inside every file system. */
export const RESERVED_TOP = ".csi-jfs";
const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const MAX_SEGMENT = 255;
const MAX_PATH = 1024;

/**
 * Why `path` is not a safe volume subdirectory (relative, inside the root, no `..`,
 * plain characters), or undefined when it is.
 */
export function subdirProblem(path: string): string | undefined {
  if (path.length === 0) return "is empty";
  if (path.length > MAX_PATH) return `is longer than ${MAX_PATH} bytes`;
  if (path.includes("\0")) return "contains NUL";
  if (path.startsWith("/")) return "is absolute";
  const segments = path.split("/");
  if (segments[0] === RESERVED_TOP) return `uses the reserved directory ${RESERVED_TOP}`;
  for (const s of segments) {
    if (s === "") return "has an empty segment";
    if (s === "." || s === "..") return `has a "${s}" segment`;
    if (s.length > MAX_SEGMENT) return `has a segment longer than ${MAX_SEGMENT} bytes`;
    if (!SEGMENT_RE.test(s)) {
      return `has a segment "${s.slice(0, 64)}" with characters outside A-Z a-z 0-9 . _ -`;
    }
  }
  return undefined;
}

export function checkSubdir(path: string, what: string): string {
  const problem = subdirProblem(path);
  if (problem) throw invalidArgument(`${what} "${path.slice(0, 128)}" ${problem}`);
  return path;
}

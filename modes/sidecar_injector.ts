import type { Config } from "../lib/config.ts";
import { UsageError } from "../lib/config.ts";

/** The admission webhook comes with its own issue; until then the mode says so plainly. */
export function runSidecarInjector(_config: Config): Promise<number> {
  throw new UsageError("--mode=sidecar-injector is not available in this version");
}

import type { Config } from "../lib/config.ts";
import { UsageError } from "../lib/config.ts";
import type { CommandRunner } from "../lib/exec.ts";
import type { Mounter } from "../lib/mount/mounter.ts";
import type { MountBackend } from "../lib/clients/backend.ts";
import { ProcessBackend } from "../lib/clients/process_backend.ts";
import { selfCommand } from "./self_command.ts";

/** The one place that turns the command line into the backend that runs JuiceFS clients. */
export function mountBackend(
  config: Config,
  deps: { runner: CommandRunner; mounter: Mounter; stateDir?: string; mode?: "pod" | "process" },
): MountBackend {
  const mode = deps.mode ?? config.mountMode;
  if (mode === "pod") {
    throw new UsageError("--mount-mode=pod is not available in this version; use --mount-mode=process");
  }
  return new ProcessBackend({
    stateDir: deps.stateDir ?? config.stateDir,
    selfCommand: selfCommand(),
    mounter: deps.mounter,
    supervisorArgs: [
      `--juicefs=${config.juicefs}`,
      `--log-format=${config.logFormat}`,
      `--log-level=${config.logLevel}`,
    ],
  });
}

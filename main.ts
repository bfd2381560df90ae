import { DRIVER_VERSION } from "./lib/version.ts";
import { type Config, parseConfig, UsageError } from "./lib/config.ts";
import { type LineOutput, logger, setupLogging } from "./lib/log.ts";
import { redact } from "./lib/redact.ts";

/** The log goes to stderr, or to --log-file line by line (lib/log.ts lineSink). */
async function logOutput(config: Config): Promise<LineOutput> {
  if (!config.logFile) return Deno.stderr;
  return await Deno.open(config.logFile, { create: true, write: true, append: true, mode: 0o600 });
}

/**
 * Each mode's code is loaded only in the process that runs it: a mount-supervisor (one per
 * JuiceFS client) never loads gRPC and protobuf, nor the controller's code, and its memory is
 * paid once per client on every node.
 */
async function run(config: Config): Promise<number> {
  switch (config.mode) {
    case "controller":
      return (await import("./modes/controller.ts")).runController(config);
    case "node":
      return (await import("./modes/node.ts")).runNode(config);
    case "mount-supervisor":
      return (await import("./modes/mount_supervisor.ts")).runMountSupervisor(config);
    case "sidecar-injector":
      return (await import("./modes/sidecar_injector.ts")).runSidecarInjector(config);
    case "doctor":
      return (await import("./modes/doctor.ts")).runDoctor(config);
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseConfig(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`csi-jfs: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (parsed.kind === "help") {
    console.log(parsed.text);
    return 0;
  }
  if (parsed.kind === "version") {
    console.log(`csi-jfs ${DRIVER_VERSION}`);
    return 0;
  }
  const config = parsed.config;
  await setupLogging(config.logFormat, config.logLevel, await logOutput(config));
  try {
    return await run(config);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`csi-jfs: ${e.message}`);
      return 2;
    }
    logger().fatal("{mode} failed: {error}", {
      mode: config.mode,
      error: redact(String((e as Error)?.stack ?? e)),
    });
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

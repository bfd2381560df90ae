import { join } from "node:path";
import type { Config } from "../lib/config.ts";
import { UsageError } from "../lib/config.ts";
import type { CommandRunner } from "../lib/exec.ts";
import type { Mounter } from "../lib/mount/mounter.ts";
import type { MountBackend } from "../lib/clients/backend.ts";
import { ProcessBackend } from "../lib/clients/process_backend.ts";
import type { Kube } from "../lib/kube/kube.ts";
import { selfCommand } from "./self_command.ts";
import { messageOf } from "../lib/errors.ts";

function supervisorArgs(config: Config): string[] {
  return [
    `--juicefs=${config.juicefs}`,
    `--log-format=${config.logFormat}`,
    `--log-level=${config.logLevel}`,
  ];
}

/** Child-process clients: the controller's own mounts, and the node with --mount-mode=process. */
export function mountBackend(
  config: Config,
  deps: { runner: CommandRunner; mounter: Mounter; stateDir?: string; mode?: "pod" | "process" },
): MountBackend {
  if ((deps.mode ?? config.mountMode) === "pod") {
    throw new UsageError("Mount Pods are for the node plugin only; this mode runs its clients as processes");
  }
  return new ProcessBackend({
    stateDir: deps.stateDir ?? config.stateDir,
    selfCommand: selfCommand(),
    mounter: deps.mounter,
    supervisorArgs: supervisorArgs(config),
  });
}

/** A node backend and what it must do around serving. */
export interface NodeBackend {
  backend: MountBackend & { sweep?: () => Promise<string[]> };
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The image of this pod's csi-jfs container: Mount Pods run the same one by default. */
async function ownImage(kube: Kube, namespace: string): Promise<string | undefined> {
  const name = Deno.env.get("POD_NAME");
  if (!name) return undefined;
  const pod = await kube.getPod(namespace, name);
  const containers = pod?.spec?.containers ?? [];
  return (containers.find((c) => c.name === "csi-jfs") ?? containers[0])?.image;
}

/**
 * A kubeconfig that cannot be read is a bad command line: one line, exit 2. The Kubernetes
 * client is loaded here, when used: imported at start it cost a process-mode node plugin
 * ~50 MiB of RSS for code it never runs (make bench, README "Performance").
 */
export async function realKube(path: string | undefined, flag = "--mount-mode=pod"): Promise<Kube> {
  const { loadKubeConfig, RealKube } = await import("../lib/kube/real_kube.ts");
  try {
    return new RealKube(loadKubeConfig(path));
  } catch (e) {
    throw new UsageError(`${flag}: ${messageOf(e)}`);
  }
}

/** The one place that turns the node's command line into the backend that runs JuiceFS clients. */
export async function nodeMountBackend(
  config: Config,
  deps: { runner: CommandRunner; mounter: Mounter; kube?: Kube },
): Promise<NodeBackend> {
  if (config.mountMode === "process") {
    return {
      backend: mountBackend(config, deps),
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
  }
  const namespace = config.namespace ?? Deno.env.get("POD_NAMESPACE");
  if (!namespace) {
    throw new UsageError("--mount-mode=pod needs --namespace or env POD_NAMESPACE (the downward API)");
  }
  const kube = deps.kube ?? await realKube(config.kubeconfig);
  // Pod mode's own modules, loaded only by a node that runs Mount Pods (see realKube).
  const [{ PodBackend }, { FuseFdKeeper }, { EventRecorder }] = await Promise.all([
    import("../lib/clients/pod_backend.ts"),
    import("../lib/clients/fuse_fd_keeper.ts"),
    import("../lib/kube/events.ts"),
  ]);
  const image = config.mountImage ?? (await ownImage(kube, namespace));
  if (!image) {
    throw new UsageError(
      "--mount-mode=pod needs --mount-image, or env POD_NAME to read this pod's own image",
    );
  }
  // The keeper's sockets are on the state dir's hostPath, which the Mount Pods share.
  const keeper = new FuseFdKeeper(join(config.stateDir, "fd-keeper"));
  const backend = new PodBackend({
    kube,
    namespace,
    nodeName: config.nodeId,
    stateDir: config.stateDir,
    ...(config.stateHostDir ? { hostStateDir: config.stateHostDir } : {}),
    image,
    mounter: deps.mounter,
    keeper,
    events: new EventRecorder(kube, { component: "csi-jfs-node", host: config.nodeId }),
    readyTimeoutMs: config.mountTimeoutMs,
    releaserDelayMs: config.clientReleaseDelayMs,
    supervisorArgs: supervisorArgs(config),
  });
  return { backend, start: () => backend.start(), stop: () => backend.stop() };
}

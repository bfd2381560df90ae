import { parseArgs } from "node:util";
import { DEFAULT_DRIVER_NAME } from "./version.ts";
import type { LogFormat, LogLevel } from "./log.ts";
import { parseListenAddress } from "./metrics/address.ts";

export const MODES = ["controller", "node", "sidecar-injector", "mount-supervisor", "doctor"] as const;
export type Mode = typeof MODES[number];

export interface Config {
  mode: Mode;
  endpoint: string;
  nodeId: string;
  driverName: string;
  mountMode: "pod" | "process";
  stateDir: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  juicefs: string;
  clientReleaseDelayMs: number;
  adminIdleTimeoutMs: number;
  settingsFile?: string;
  logFile?: string;
  fdSocket?: string;
  fdKeeper?: string;
  keepMountOnTerm?: boolean;
  /** Pod mode: how long a stage waits for its Mount Pod to serve the file system. */
  mountTimeoutMs: number;
  /** Pod mode: the Mount Pods' image (default: the node plugin's own, read from its pod). */
  mountImage?: string;
  /** Pod mode: the host path of --state-dir, when the node container mounts it elsewhere. */
  stateHostDir?: string;
  /** Pod mode: the driver's namespace (default: env POD_NAMESPACE). */
  namespace?: string;
  /** A kubeconfig for running outside a pod (default: $KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Operations (issue 9): where to serve Prometheus metrics (off when unset). */
  metricsAddress?: string;
  /** Operations: the kubelet's root directory (the doctor reads its volume layout). */
  kubeletDir: string;
  /** Doctor: the report's format, and whether to carry out its fixes. */
  output: "text" | "json";
  fix?: boolean;
  /** --mode=sidecar-injector */
  injector?: InjectorConfig;
}

/** The sidecar injector's settings (its flags are kept together in the table below). */
export interface InjectorConfig {
  hostname: string;
  port: number;
  /** The namespace the injector runs in (its Service, its certificate Secret). */
  namespace: string;
  serviceName: string;
  tlsSecret: string;
  webhookConfig: string;
  /** Unset: the image the injector itself runs (read from its own pod). */
  sidecarImage?: string;
}

/** A bad command line: main prints the message on one line and exits 2. */
export class UsageError extends Error {}

interface FlagSpec {
  type: "string" | "boolean";
  help: string;
  modes: readonly Mode[] | "all";
  default?: string;
}

const SERVING: Mode[] = ["controller", "node"];
const FLAGS: Record<string, FlagSpec> = {
  mode: { type: "string", help: `role to run: ${MODES.join(" | ")}`, modes: "all" },
  endpoint: {
    type: "string",
    help: "CSI socket (unix:///path)",
    modes: SERVING,
    default: "unix:///csi/csi.sock",
  },
  nodeid: { type: "string", help: "this node's name (default: hostname)", modes: ["node", "doctor"] },
  "driver-name": {
    type: "string",
    help: "CSI driver name",
    modes: [...SERVING, "sidecar-injector", "doctor"],
    default: DEFAULT_DRIVER_NAME,
  },
  "mount-mode": {
    type: "string",
    help: "where JuiceFS clients run: process | pod",
    modes: ["node"],
    default: "process",
  },
  "state-dir": {
    type: "string",
    help: "directory for client mount points and state",
    modes: [...SERVING, "doctor"],
    default: "/var/lib/csi-jfs",
  },
  "log-format": { type: "string", help: "text | json", modes: "all", default: "text" },
  "log-level": { type: "string", help: "debug | info | warning | error", modes: "all", default: "info" },
  juicefs: { type: "string", help: "path of the juicefs client", modes: "all", default: "juicefs" },
  "client-release-delay": {
    type: "string",
    help: "keep an unused client this long before stopping it (e.g. 30s)",
    modes: ["node"],
    default: "0s",
  },
  "mount-timeout": {
    type: "string",
    help: "pod mode: how long a stage waits for its Mount Pod to serve the file system",
    modes: ["node"],
    default: "60s",
  },
  "mount-image": {
    type: "string",
    help: "pod mode: image of the Mount Pods (default: this pod's own image)",
    modes: ["node"],
  },
  "state-host-dir": {
    type: "string",
    help: "pod mode: the host path of --state-dir, for the Mount Pods' hostPaths (default: the same path)",
    modes: ["node"],
  },
  namespace: {
    type: "string",
    help:
      "the driver's namespace: pod mode's Mount Pods, the injector's Service and Secret (default: env POD_NAMESPACE)",
    modes: ["node", "sidecar-injector", "doctor"],
  },
  kubeconfig: {
    type: "string",
    help: "kubeconfig file when running outside a pod (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    modes: ["node", "sidecar-injector", "doctor"],
  },
  "admin-idle-timeout": {
    type: "string",
    help: "release the controller's mount of a file system after this idle time",
    modes: ["controller"],
    default: "10m",
  },
  "settings-file": {
    type: "string",
    help: "0600 JSON settings file (else env CSI_JFS_SUPERVISOR_SETTINGS)",
    modes: ["mount-supervisor"],
  },
  "log-file": {
    type: "string",
    help: "append logs to this file instead of stderr",
    modes: ["mount-supervisor"],
  },
  "fd-socket": { type: "string", help: "unix socket to hold the FUSE fd on", modes: ["mount-supervisor"] },
  "fd-keeper": {
    type: "string",
    help: "the node plugin's FUSE fd keeper socket: it keeps the mount alive when this supervisor dies",
    modes: ["mount-supervisor"],
  },
  "keep-mount-on-term": {
    type: "boolean",
    help: "on SIGTERM leave the mount to the fd keeper unless its directory holds a release file",
    modes: ["mount-supervisor"],
  },
  // --mode=sidecar-injector
  listen: {
    type: "string",
    help: "HTTPS address of the admission webhook (host:port)",
    modes: ["sidecar-injector"],
    default: "0.0.0.0:9443",
  },
  "service-name": {
    type: "string",
    help: "the injector's Service (its DNS names go in the serving certificate)",
    modes: ["sidecar-injector"],
    default: "csi-jfs-sidecar-injector",
  },
  "tls-secret": {
    type: "string",
    help: "Secret holding the injector's CA and serving certificate (created when missing)",
    modes: ["sidecar-injector"],
    default: "csi-jfs-sidecar-injector-tls",
  },
  "webhook-config": {
    type: "string",
    help: "MutatingWebhookConfiguration whose caBundle the injector keeps current",
    modes: ["sidecar-injector"],
    default: "csi-jfs-sidecar-injector",
  },
  "sidecar-image": {
    type: "string",
    help: "image of the injected client (default: the injector's own image)",
    modes: ["sidecar-injector"],
  },
  // Operations (issue 9): metrics, the doctor.
  "metrics-address": {
    type: "string",
    help: "serve Prometheus metrics on host:port (e.g. :9810; off when unset)",
    modes: ["controller", "node", "sidecar-injector"],
  },
  "kubelet-dir": {
    type: "string",
    help: "the kubelet's root directory (k3s, microk8s and others move it)",
    modes: ["doctor"],
    default: "/var/lib/kubelet",
  },
  output: { type: "string", help: "doctor: text | json", modes: ["doctor"], default: "text" },
  fix: {
    type: "boolean",
    help: "doctor: also carry out the fixes it lists (nothing else is ever changed)",
    modes: ["doctor"],
  },
  help: { type: "boolean", help: "show help (with --mode: that mode's flags)", modes: "all" },
  version: { type: "boolean", help: "print the version", modes: "all" },
};

export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${flag}: "${value}" is not a duration like 500ms, 30s, 5m or 1h`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  return n * unit;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag}: "${value}" is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function helpText(mode?: Mode): string {
  const lines = [
    mode ? `csi-jfs --mode=${mode} [flags]` : "csi-jfs --mode=MODE [flags]",
    "",
    "A Kubernetes CSI driver for JuiceFS. Modes: controller, node, sidecar-injector, mount-supervisor,",
    "and doctor (run by hand on a node: lists its JuiceFS clients and volumes, finds what is broken).",
    "",
    "Flags:",
  ];
  for (const [name, f] of Object.entries(FLAGS)) {
    if (mode && f.modes !== "all" && !f.modes.includes(mode)) continue;
    const def = f.default !== undefined ? ` (default ${f.default})` : "";
    lines.push(`  --${name}${f.type === "string" ? "=VALUE" : ""}`.padEnd(32) + f.help + def);
  }
  return lines.join("\n");
}

export type Parsed = { kind: "help"; text: string } | { kind: "version" } | { kind: "run"; config: Config };

/** Parses the command line once; every problem is a UsageError with a one-line reason. */
export function parseConfig(argv: string[], hostname: () => string = Deno.hostname): Parsed {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type }]));
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0] ?? "bad arguments");
  }
  const modeArg = values["mode"] as string | undefined;
  const mode = modeArg === undefined ? undefined : oneOf(modeArg, MODES, "mode");
  if (values["version"]) return { kind: "version" };
  if (values["help"]) return { kind: "help", text: helpText(mode) };
  if (!mode) throw new UsageError(`--mode is required: one of ${MODES.join(", ")} (see --help)`);
  for (const [name, v] of Object.entries(values)) {
    const f = FLAGS[name];
    if (v !== undefined && f && f.modes !== "all" && !f.modes.includes(mode)) {
      throw new UsageError(`--${name} does not apply to --mode=${mode}`);
    }
  }
  const str = (name: string): string => (values[name] as string | undefined) ?? FLAGS[name]?.default ?? "";
  const opt = (name: string): string | undefined => values[name] as string | undefined;
  const endpoint = str("endpoint");
  if (!/^unix:\/\/\/?\/.+|^unix:\/.+|^\/.+/.test(endpoint)) {
    throw new UsageError(`--endpoint: "${endpoint}" is not unix:///absolute/path`);
  }
  const stateDir = str("state-dir");
  if (!stateDir.startsWith("/")) throw new UsageError(`--state-dir: "${stateDir}" is not an absolute path`);
  const config: Config = {
    mode,
    endpoint,
    nodeId: opt("nodeid") ?? hostname(),
    driverName: str("driver-name"),
    mountMode: oneOf(str("mount-mode"), ["pod", "process"] as const, "mount-mode"),
    stateDir,
    logFormat: oneOf(str("log-format"), ["text", "json"] as const, "log-format"),
    logLevel: oneOf(str("log-level"), ["debug", "info", "warning", "error"] as const, "log-level"),
    juicefs: str("juicefs"),
    clientReleaseDelayMs: parseDuration(str("client-release-delay"), "client-release-delay"),
    adminIdleTimeoutMs: parseDuration(str("admin-idle-timeout"), "admin-idle-timeout"),
    mountTimeoutMs: parseDuration(str("mount-timeout"), "mount-timeout"),
    ...(opt("mount-image") ? { mountImage: opt("mount-image") as string } : {}),
    ...(opt("namespace") ? { namespace: opt("namespace") as string } : {}),
    ...(opt("state-host-dir") ? { stateHostDir: opt("state-host-dir") as string } : {}),
    ...(opt("kubeconfig") ? { kubeconfig: opt("kubeconfig") as string } : {}),
    ...(opt("settings-file") ? { settingsFile: opt("settings-file") as string } : {}),
    ...(opt("log-file") ? { logFile: opt("log-file") as string } : {}),
    ...(opt("fd-socket") ? { fdSocket: opt("fd-socket") as string } : {}),
    ...(opt("fd-keeper") ? { fdKeeper: opt("fd-keeper") as string } : {}),
    ...(values["keep-mount-on-term"] ? { keepMountOnTerm: true } : {}),
    ...(opt("metrics-address") ? { metricsAddress: opt("metrics-address") as string } : {}),
    kubeletDir: str("kubelet-dir"),
    output: oneOf(str("output"), ["text", "json"] as const, "output"),
    ...(values["fix"] ? { fix: true } : {}),
  };
  if (mode === "sidecar-injector") config.injector = injectorConfig(str, opt);
  if (config.metricsAddress !== undefined) {
    try {
      parseListenAddress(config.metricsAddress);
    } catch (e) {
      throw new UsageError(`--metrics-address: ${(e as Error).message}`);
    }
  }
  if (!config.kubeletDir.startsWith("/")) {
    throw new UsageError(`--kubelet-dir: "${config.kubeletDir}" is not an absolute path`);
  }
  if (config.keepMountOnTerm && !config.fdKeeper) {
    throw new UsageError("--keep-mount-on-term needs --fd-keeper (the keeper keeps the mount alive)");
  }
  if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(config.driverName) || !config.driverName.includes(".")) {
    throw new UsageError(`--driver-name: "${config.driverName}" is not a DNS-style name like jfs.csi.dev`);
  }
  if (config.mountTimeoutMs < 1000) {
    throw new UsageError(
      `--mount-timeout: ${config.mountTimeoutMs}ms is too short to start a pod (1s at least)`,
    );
  }
  if (config.stateHostDir !== undefined && !config.stateHostDir.startsWith("/")) {
    throw new UsageError(`--state-host-dir: "${config.stateHostDir}" is not an absolute path`);
  }
  if (config.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(config.namespace)) {
    throw new UsageError(`--namespace: "${config.namespace}" is not a namespace name`);
  }
  if (!config.nodeId || config.nodeId.length > 256) {
    throw new UsageError(`--nodeid: "${config.nodeId}" is empty or too long`);
  }
  return { kind: "run", config };
}

const K8S_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

function injectorConfig(str: (n: string) => string, opt: (n: string) => string | undefined): InjectorConfig {
  const listen = str("listen");
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new UsageError(`--listen: "${listen}" is not host:port like 0.0.0.0:9443`);
  const namespace = opt("namespace") ?? Deno.env.get("POD_NAMESPACE") ?? "csi-jfs";
  const names: Record<string, string> = {
    namespace,
    "service-name": str("service-name"),
    "tls-secret": str("tls-secret"),
    "webhook-config": str("webhook-config"),
  };
  for (const [flag, v] of Object.entries(names)) {
    if (!K8S_NAME.test(v)) throw new UsageError(`--${flag}: "${v}" is not a Kubernetes object name`);
  }
  const image = opt("sidecar-image");
  if (image !== undefined && !/^[^\s]{1,512}$/.test(image)) {
    throw new UsageError(`--sidecar-image: "${image.slice(0, 64)}" is not an image reference`);
  }
  return {
    hostname: (m[1] ?? "").replace(/^\[|\]$/g, "") || "0.0.0.0",
    port,
    namespace,
    serviceName: names["service-name"] ?? "",
    tlsSecret: names["tls-secret"] ?? "",
    webhookConfig: names["webhook-config"] ?? "",
    ...(image ? { sidecarImage: image } : {}),
  };
}

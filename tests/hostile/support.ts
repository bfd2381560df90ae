// Shared machinery of the hostile-input tier: table-driven cases against a real driver,
// the check that an error message is a clear sentence, and the guard that proves nothing
// outside the driver's directory changed (sentinel files, the machine's mount table).
import { dirname } from "node:path";
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, CallError, type Driver, mountCap, mountsUnder, startDriver } from "../support/driver.ts";

export const GiB = String(1024 ** 3);
export const KiB64 = "a".repeat(64 * 1024);
export const MAX_INT64 = "9223372036854775807";
/** Entries JuiceFS itself shows in the root of every mount. */
const JUICEFS_VIRTUAL = [".accesslog", ".config", ".stats", ".trash"];

/** Secret values no message and no log line may ever contain. */
export const SECRET = {
  accessKey: "HostileAccessKey-7Q3xv",
  secretKey: "HostileSecretKey-9Z1wq",
  metaPassword: "HostileMetaPw-4KdpZ",
  formatSecret: "HostileFormatSecret-2Lm",
  envValue: "HostileEnvValue-8Rt",
  hugeSecret: "HostileHugeSecret-5Nb",
  mountFlag: "HostileMountFlagSecret-6Yc",
  parameter: "HostileParameterSecret-3Hw",
} as const;

/** The driver's test secrets plus distinctive credentials (ignored by `file` storage). */
export function withCredentials(d: Driver): Record<string, string> {
  d.secrets["access-key"] = SECRET.accessKey;
  d.secrets["secret-key"] = SECRET.secretKey;
  return d.secrets;
}

export interface Outcome {
  code: string;
  details: string;
  response: Record<string, unknown> | undefined;
}

export interface Case {
  /** What is hostile about the request (never the raw hostile bytes). */
  name: string;
  method: string;
  req: Record<string, unknown>;
  /** The exact gRPC code name expected; "OK" where the spec says success. */
  code: string;
  /** Further checks on the outcome (state of the file system, the mounts, the response). */
  then?: (o: Outcome) => Promise<void> | void;
}

export async function invoke(d: Driver, method: string, req: unknown): Promise<Outcome> {
  const client = method.startsWith("Node") ? d.node : d.controller;
  try {
    const response = await call(client, method, req);
    return { code: "OK", details: "", response };
  } catch (e) {
    if (e instanceof CallError) return { code: e.code, details: e.details, response: undefined };
    throw e;
  }
}

/** A message a person can act on: a sentence, not a stack, an internal error or a raw OS error. */
export function assertClearMessage(msg: string): void {
  assert(msg.trim().length > 0, "the error message is empty");
  assert(msg.length <= 2048, `the error message is ${msg.length} characters long`);
  assert(!/\n\s+at\s/.test(msg), `the error message holds a stack trace: ${msg.slice(0, 300)}`);
  assert(!/INTERNAL/.test(msg), `the error message says INTERNAL: ${msg.slice(0, 300)}`);
  assert(
    !/\b(TypeError|ReferenceError|RangeError|SyntaxError|os error \d+)\b|\[object Object\]|\bundefined\b/
      .test(msg),
    `the error message is not a sentence: ${msg.slice(0, 300)}`,
  );
}

/** Runs each case as a step; every error message seen is appended to `seen` for the leak check. */
export async function runCases(t: Deno.TestContext, d: Driver, cases: Case[], seen: string[]): Promise<void> {
  for (const c of cases) {
    await t.step({
      name: `${c.method}: ${c.name} -> ${c.code}`,
      fn: async () => {
        const o = await invoke(d, c.method, c.req);
        seen.push(o.details);
        assert(
          c.code === "OK" || !["INTERNAL", "UNKNOWN"].includes(o.code),
          `a caller's mistake answered with ${o.code}: ${o.details.slice(0, 300)}`,
        );
        assertEquals(o.code, c.code, `expected ${c.code}, got ${o.code}: ${o.details.slice(0, 300)}`);
        if (o.code !== "OK") assertClearMessage(o.details);
        for (const [what, value] of Object.entries(SECRET)) {
          assert(
            !o.details.includes(value),
            `secret ${what} in the error message: ${o.details.slice(0, 200)}`,
          );
        }
        await c.then?.(o);
      },
    });
  }
}

/** Asserts that no message and no driver log line holds any of the secret values. */
export async function assertNoSecretLeak(d: Driver, seen: string[]): Promise<void> {
  const logs = await d.logs();
  for (const [what, value] of Object.entries(SECRET)) {
    const inMessage = seen.find((m) => m.includes(value));
    assert(inMessage === undefined, `secret ${what} in an error message: ${inMessage?.slice(0, 200)}`);
    assert(!logs.includes(value), `secret ${what} in the driver logs`);
  }
}

/** Type, mode, size, mtime and link target of every entry under `path`, symlinks not followed. */
export async function snapshot(path: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = await Deno.lstat(p);
    const kind = st.isSymlink ? `l->${await Deno.readLink(p)}` : st.isDirectory ? "d" : st.isFile ? "f" : "o";
    const size = st.isFile ? String(st.size) : "-";
    out.push(`${rel || "."} ${kind} ${((st.mode ?? 0) & 0o7777).toString(8)} ${size} ${st.mtime?.getTime()}`);
    if (st.isDirectory) {
      for await (const e of Deno.readDir(p)) await walk(`${p}/${e.name}`, rel ? `${rel}/${e.name}` : e.name);
    }
  };
  await walk(path, "");
  return out.sort();
}

/**
 * Sentinels outside the driver's directory (a tree next to it and a file in /tmp) and the
 * machine's mount table, taken before the hostile cases and compared after them.
 */
export interface Guard {
  sentinelDir: string;
  sentinelFile: string;
  /** Asserts the sentinels and the mounts outside the driver's directory are as before. */
  check(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function guardOutside(d: Driver): Promise<Guard> {
  const rand = crypto.randomUUID().slice(0, 8);
  const sentinelDir = `${dirname(d.dir)}/csi-jfs-hostile-sentinel-${rand}`;
  const sentinelFile = `/tmp/csi-jfs-hostile-sentinel-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${sentinelDir}/etc/deep`, { recursive: true });
  await Deno.mkdir(`${sentinelDir}/empty`);
  await Deno.writeTextFile(`${sentinelDir}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  await Deno.writeTextFile(`${sentinelDir}/etc/deep/data`, "keep me\n");
  await Deno.chmod(`${sentinelDir}/etc`, 0o750);
  await Deno.writeTextFile(sentinelFile, "sentinel\n");
  await Deno.chmod(sentinelFile, 0o600);
  // Other test harnesses on this machine mount under temp dirs of their own (csi-jfs-it-,
  // -bench-, -fdkeeper-, ...: all but this guard's sentinels), and a running test cluster
  // (make cluster-up) mounts pods' volumes, rootfs and network namespaces under its own roots.
  const cluster = "/var/lib/csi-jfs-cluster/|/run/csi-jfs-cluster/|/run/netns/";
  const others = new RegExp(`^(${dirname(d.dir)}/csi-jfs-(?!hostile-sentinel-)|${cluster})`);
  const outside = () =>
    mountsUnder("/").filter((m) => !(m === d.dir || m.startsWith(`${d.dir}/`)) && !others.test(m));
  const before = { dir: await snapshot(sentinelDir), file: await snapshot(sentinelFile), mounts: outside() };
  return {
    sentinelDir,
    sentinelFile,
    async check() {
      assertEquals(await snapshot(sentinelDir), before.dir, "the sentinel tree changed");
      assertEquals(
        await snapshot(sentinelFile).catch(() => ["gone"]),
        before.file,
        "the sentinel file changed",
      );
      assertEquals(outside(), before.mounts, "mounts outside the driver directory changed");
    },
    async cleanup() {
      // Should a bug have mounted over a sentinel, detach it before removing anything.
      for (const m of [...mountsUnder(sentinelDir), ...mountsUnder(sentinelFile)]) {
        await new Deno.Command("umount", { args: ["-l", m] }).output();
      }
      await Deno.remove(sentinelDir, { recursive: true }).catch(() => {});
      await Deno.remove(sentinelFile).catch(() => {});
    },
  };
}

/** The root of the file system as the controller's admin mount shows it. */
export async function fsRoot(d: Driver): Promise<string> {
  const base = `${d.dir}/state/controller/clients`;
  const roots: string[] = [];
  for await (const e of Deno.readDir(base)) {
    if (mountsUnder(`${base}/${e.name}/mnt`).length > 0) roots.push(`${base}/${e.name}/mnt`);
  }
  assertEquals(roots.length, 1, `one admin mount expected, found ${roots.join(", ")}`);
  return roots[0]!;
}

/** The node's shared client mount of the file system. */
export async function nodeClientMount(d: Driver): Promise<string> {
  const base = `${d.dir}/state/clients`;
  for await (const e of Deno.readDir(base)) {
    if (mountsUnder(`${base}/${e.name}/mnt`).length > 0) return `${base}/${e.name}/mnt`;
  }
  throw new Error("the node runs no client");
}

const names = async (dir: string): Promise<string[]> =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

/**
 * Asserts the file system root holds the legitimate volume directories (`subdirs`), `.csi-jfs`
 * with one record per volume, and JuiceFS's own entries: nothing else.
 */
export async function assertRootHolds(d: Driver, subdirs: string[]): Promise<void> {
  const root = await fsRoot(d);
  const top = new Set([".csi-jfs", ...JUICEFS_VIRTUAL, ...subdirs.map((s) => s.split("/")[0]!)]);
  assertEquals(await names(root), [...top].sort(), "the file system root");
  for (const s of subdirs) {
    assert((await Deno.lstat(`${root}/${s}`)).isDirectory, `volume directory /${s} is a directory`);
  }
  // A delete passes through the driver's trash, which it leaves empty.
  const reserved = await names(`${root}/.csi-jfs`);
  if (reserved.includes("trash")) assertEquals(await names(`${root}/.csi-jfs/trash`), [], "the trash");
  // Clones are made in tmp and moved out whole: a leftover there is a half-made clone.
  if (reserved.includes("tmp")) assertEquals(await names(`${root}/.csi-jfs/tmp`), [], "the clone area");
  assertEquals(
    reserved.filter((n) => !["trash", "tmp", "snapshots"].includes(n)),
    ["volumes"],
    "the reserved directory",
  );
  assertEquals(
    await names(`${root}/.csi-jfs/volumes`),
    subdirs.map((s) => `${encodeURIComponent(s)}.json`).sort(),
    "the volume records",
  );
}

/** One hostile suite's driver, credentials, outside guard and the messages it has seen. */
export interface Suite {
  d: Driver;
  secrets: Record<string, string>;
  guard: Guard;
  seen: string[];
  /** Creates a legitimate volume of 1 GiB to aim the hostile cases at. */
  createVolume(
    name: string,
    parameters?: Record<string, string>,
  ): Promise<{ volume_id: string; volume_context: Record<string, string> }>;
}

/**
 * Runs `fn` on a driver of its own, then checks that no secret reached a message or a log
 * line, and always stops the driver and removes the guard's sentinels.
 */
export async function withSuite(t: Deno.TestContext, fn: (s: Suite) => Promise<void>): Promise<void> {
  const d = await startDriver();
  const secrets = withCredentials(d);
  const guard = await guardOutside(d);
  const seen: string[] = [];
  const createVolume = async (name: string, parameters: Record<string, string> = {}) =>
    (await call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>(
      d.controller,
      "CreateVolume",
      {
        name,
        capacity_range: { required_bytes: GiB },
        volume_capabilities: [mountCap()],
        parameters,
        secrets,
      },
    )).volume;
  try {
    await fn({ d, secrets, guard, seen, createVolume });
    await t.step("no secret in any message or log line", () => assertNoSecretLeak(d, seen));
  } finally {
    await d.stop();
    await guard.cleanup();
  }
}

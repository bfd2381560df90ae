// Hostile secrets against every RPC that takes them (CreateVolume, DeleteVolume,
// ControllerExpandVolume, ValidateVolumeCapabilities, NodeStageVolume): missing, unknown keys,
// bad names, metaurls with whitespace, format-options smuggling credentials, envs that are no
// map, huge values, another file system's name, an unreachable engine with a password.
// Distinctive secret values must appear in no error message and no log line.
import { assertEquals } from "../../lib/testing/assert.ts";
import { type Driver, mountCap, mountsUnder } from "../support/driver.ts";
import { assertRootHolds, type Case, GiB, runCases, SECRET, withSuite } from "./support.ts";

const RPCS = [
  "CreateVolume",
  "DeleteVolume",
  "ControllerExpandVolume",
  "ValidateVolumeCapabilities",
  "NodeStageVolume",
] as const;
type Rpc = typeof RPCS[number];

interface Variant {
  what: string;
  secrets: (base: Record<string, string>) => Record<string, string>;
  /** The code when not INVALID_ARGUMENT. */
  code?: Partial<Record<Rpc, string>>;
  /** Only these RPCs (default: all). */
  only?: Rpc[];
}

const without = (base: Record<string, string>, key: string) =>
  Object.fromEntries(Object.entries(base).filter(([k]) => k !== key));
const set = (key: string, value: string) => (base: Record<string, string>) => ({ ...base, [key]: value });
const huge = (prefix: string) => prefix + "x".repeat(5 * 1024);

const VARIANTS: Variant[] = [
  // ValidateVolumeCapabilities takes secrets as optional: without them it checks no file system.
  {
    what: "no secrets",
    secrets: () => ({}),
    only: ["CreateVolume", "DeleteVolume", "ControllerExpandVolume"],
  },
  { what: "an unknown key secret_key", secrets: set("secret_key", SECRET.hugeSecret) },
  { what: "an unknown key token", secrets: set("token", SECRET.hugeSecret) },
  { what: "no name", secrets: (b) => without(b, "name") },
  { what: "an upper-case name", secrets: set("name", "ITFS") },
  { what: "a name with a traversal", secrets: set("name", "../itfs") },
  { what: "a name with a space", secrets: set("name", "it fs") },
  { what: "a name with NUL", secrets: set("name", "itfs\0") },
  // Regression: bug N, found by this tier and fixed.
  { what: "a 4 KiB name", secrets: set("name", "A".repeat(4000)), only: ["CreateVolume"] },
  { what: "no metaurl", secrets: (b) => without(b, "metaurl") },
  {
    what: "a metaurl with a space and an option",
    secrets: (b) => ({ ...b, metaurl: `${b.metaurl} --no-bgjob` }),
  },
  { what: "a metaurl with a newline", secrets: (b) => ({ ...b, metaurl: `${b.metaurl}\n--no-bgjob` }) },
  { what: "a metaurl with NUL", secrets: (b) => ({ ...b, metaurl: `${b.metaurl}\0` }) },
  { what: "a 5 KiB metaurl", secrets: (b) => ({ ...b, metaurl: huge(b.metaurl!) }) },
  {
    what: "format-options smuggling secret-key",
    secrets: set("format-options", `secret-key=${SECRET.formatSecret}`),
  },
  {
    what: "format-options smuggling --access-key",
    secrets: set("format-options", `--access-key=${SECRET.formatSecret}`),
  },
  {
    what: "format-options smuggling secret-key behind a space",
    secrets: set("format-options", `trash-days=1 --secret-key=${SECRET.formatSecret}`),
  },
  {
    what: "format-options smuggling -secret-key",
    secrets: set("format-options", `-secret-key=${SECRET.formatSecret}`),
  },
  { what: "format-options smuggling storage", secrets: set("format-options", "storage=s3") },
  { what: "format-options smuggling bucket", secrets: set("format-options", "bucket=/etc") },
  {
    what: "format-options smuggling encrypt-rsa-key",
    secrets: set("format-options", "encrypt-rsa-key=/etc/shadow"),
  },
  { what: "format-options with a bad option name", secrets: set("format-options", "trash days=1") },
  { what: "envs that is a JSON array", secrets: set("envs", `["${SECRET.envValue}"]`) },
  { what: "envs that is a JSON number", secrets: set("envs", "42") },
  { what: "envs that is a JSON string", secrets: set("envs", `"${SECRET.envValue}"`) },
  { what: "envs that is JSON null", secrets: set("envs", "null") },
  { what: "envs with a bad variable name", secrets: set("envs", `{"LD PRELOAD": "${SECRET.envValue}"}`) },
  {
    what: "envs with a variable name starting with a digit",
    secrets: set("envs", `{1BAD: ${SECRET.envValue}}`),
  },
  // Regression: bug D, found by this tier and fixed.
  {
    what: "envs written NAME=value",
    secrets: set("envs", `{TOKEN=${SECRET.envValue}}`),
    only: ["CreateVolume", "NodeStageVolume"],
  },
  { what: "a 5 KiB secret-key", secrets: set("secret-key", huge(SECRET.hugeSecret)) },
  { what: "a 5 KiB envs", secrets: set("envs", `{A: ${huge(SECRET.hugeSecret)}}`) },
  { what: "a secret-key with NUL", secrets: set("secret-key", `${SECRET.hugeSecret}\0`) },
  { what: "storage with a space and an option", secrets: set("storage", "file --bucket=/") },
  { what: "bucket with a space", secrets: (b) => ({ ...b, bucket: `${b.bucket} /etc` }) },
  {
    what: "another file system's name",
    secrets: set("name", "otherfs"),
    // The metaurl holds "itfs": CreateVolume finds out by asking it; the others from the id.
    code: { CreateVolume: "FAILED_PRECONDITION" },
  },
  {
    what: "an unreachable metadata engine with a password",
    secrets: (b) => ({
      name: "itfs",
      metaurl: `postgres://csi:${SECRET.metaPassword}@127.0.0.1:1/jfs?sslmode=disable`,
      "secret-key": b["secret-key"]!,
    }),
    code: {
      CreateVolume: "UNAVAILABLE",
      DeleteVolume: "UNAVAILABLE",
      ControllerExpandVolume: "UNAVAILABLE",
      ValidateVolumeCapabilities: "UNAVAILABLE",
    },
    // NodeStageVolume would wait for a client that never mounts.
    only: ["CreateVolume", "DeleteVolume", "ControllerExpandVolume", "ValidateVolumeCapabilities"],
  },
];

function cases(d: Driver): Case[] {
  let n = 0;
  const request = (rpc: Rpc, secrets: Record<string, string>): Record<string, unknown> => {
    const id = "jfs1/itfs/delete/legit";
    switch (rpc) {
      case "CreateVolume":
        return {
          name: `hv-s-${++n}`,
          capacity_range: { required_bytes: GiB },
          volume_capabilities: [mountCap()],
          secrets,
        };
      case "DeleteVolume":
        return { volume_id: id, secrets };
      case "ControllerExpandVolume":
        return { volume_id: id, capacity_range: { required_bytes: String(2 * Number(GiB)) }, secrets };
      case "ValidateVolumeCapabilities":
        return { volume_id: id, volume_capabilities: [mountCap()], secrets };
      case "NodeStageVolume":
        return {
          volume_id: id,
          staging_target_path: `${d.dir}/staging/s-${++n}`,
          volume_capability: mountCap(),
          volume_context: { subdir: "legit" },
          secrets,
        };
    }
  };
  return VARIANTS.flatMap((v) =>
    (v.only ?? RPCS).map((rpc): Case => ({
      name: `secrets with ${v.what}`,
      method: rpc,
      req: request(rpc, v.secrets({ ...d.secrets })),
      code: v.code?.[rpc] ?? "INVALID_ARGUMENT",
    }))
  );
}

Deno.test({
  name: "hostile input: secrets",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withSuite(t, async ({ d, guard, seen, createVolume }) => {
      await createVolume("legit");

      await runCases(t, d, cases(d), seen);

      await t.step("nothing was staged, created or deleted, and nothing outside changed", async () => {
        await guard.check();
        assertEquals(mountsUnder(`${d.dir}/staging`), [], "no staging mount");
        await assertRootHolds(d, ["legit"]);
      });
    }),
});

// Hostile CreateVolume requests against the real driver: names and pathPatterns that try to
// leave the file system root or reach the reserved directory, unknown parameters, smuggled
// mount options, bad capabilities and capacities. Each gets its exact gRPC code, a clear
// message, and nothing outside the legitimate volume directories changes.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, type Driver, mountCap } from "../support/driver.ts";
import {
  assertRootHolds,
  type Case,
  fsRoot,
  GiB,
  KiB64,
  MAX_INT64,
  runCases,
  SECRET,
  withSuite,
} from "./support.ts";

const PVC = "csi.storage.k8s.io/pvc/name";
const NS = "csi.storage.k8s.io/pvc/namespace";
const INVALID = "INVALID_ARGUMENT";

/** Names that must never become a directory: each is refused before anything is mounted. */
const HOSTILE_NAMES: Array<[string, string]> = [
  ["`..`", ".."],
  ["`.`", "."],
  ["`../../etc`", "../../etc"],
  ["an absolute path", "/etc"],
  ["`a/../../b`", "a/../../b"],
  ["percent-encoded `%2e%2e`", "%2e%2e"],
  ["percent-encoded `..%2f..%2fetc`", "..%2f..%2fetc"],
  ["a NUL byte", "pv\0x"],
  ["a newline", "pv\nx"],
  ["fullwidth full stops (U+FF0E)", "\uFF0E\uFF0E"],
  ["one-dot leaders (U+2024)", "\u2024\u2024"],
  ["division slashes (U+2215)", "a\u2215..\u2215b"],
  ["a fullwidth solidus (U+FF0F)", "..\uFF0Fetc"],
  ["64 KiB", KiB64],
  ["the reserved directory .csi-jfs", ".csi-jfs"],
  ["something that reads as an option", "--help"],
  ["shell syntax", "$(reboot)"],
  ["backslashes", "..\\..\\etc"],
  ["a space", "pv x"],
];

/** pathPatterns refused as written. */
const HOSTILE_PATTERNS: Array<[string, string]> = [
  ["`..`", ".."],
  ["`../../etc`", "../../etc"],
  ["an absolute path", "/etc"],
  ["`a/../../b`", "a/../../b"],
  ["percent-encoded `%2e%2e`", "%2e%2e/etc"],
  ["a NUL byte", "vols/\0"],
  ["a newline", "vols/a\nb"],
  ["fullwidth full stops", "\uFF0E\uFF0E/etc"],
  ["one-dot leaders", "\u2024\u2024"],
  ["64 KiB", KiB64],
  ["the reserved directory", ".csi-jfs"],
  ["the volume records", ".csi-jfs/volumes"],
  ["an empty segment", "a//b"],
  ["a trailing slash", "vols/"],
  ["a `./` segment", "./vols"],
  ["an unknown variable", "${env.HOME}"],
  ["an unterminated variable", "vols/${pvc.name"],
  ["a variable the request does not carry", "${pv.name}"],
];

/** pathPatterns that are fine as written but render to something hostile from PVC metadata. */
const HOSTILE_RENDERINGS: Array<[string, string, Record<string, string>]> = [
  ["a PVC named `..`", "${pvc.name}", { [PVC]: ".." }],
  ["a PVC named `../../etc`", "${pvc.name}", { [PVC]: "../../etc" }],
  ["a PVC named `/etc`", "${pvc.name}", { [PVC]: "/etc" }],
  ["a namespace `..`", "${pvc.namespace}/${pvc.name}", { [NS]: "..", [PVC]: "etc" }],
  ["a PVC named `../..` under a prefix", "vols/${pvc.name}", { [PVC]: "../.." }],
  ["the namespace .csi-jfs", "${pvc.namespace}/${pvc.name}", { [NS]: ".csi-jfs", [PVC]: "volumes" }],
  ["a PVC named like a variable", "${pvc.name}", { [PVC]: "${pvc.namespace}", [NS]: ".." }],
  ["the JuiceFS CSI spelling and a PVC named `..`", "${.PVC.name}", { [PVC]: ".." }],
  ["a PVC named `%2e%2e`", "${pvc.name}", { [PVC]: "%2e%2e" }],
  ["a PVC name with NUL", "${pvc.name}", { [PVC]: "a\0b" }],
  ["a 64 KiB PVC name", "${pvc.name}", { [PVC]: KiB64 }],
  ["an empty PVC name", "${pvc.name}", { [PVC]: "" }],
];

function cases(d: Driver, root: string): Case[] {
  const secrets = d.secrets;
  let n = 0;
  // Each request its own name, so that a case that wrongly succeeds cannot mask the next one.
  const req = (over: Record<string, unknown> = {}) => ({
    name: `hv-${++n}`,
    capacity_range: { required_bytes: GiB },
    volume_capabilities: [mountCap()],
    parameters: {},
    secrets,
    ...over,
  });
  const create = (name: string, code: string, over: Record<string, unknown>): Case => ({
    name,
    method: "CreateVolume",
    req: req(over),
    code,
  });
  const pattern = (pathPattern: string, extra: Record<string, string> = {}) => ({
    parameters: { pathPattern, ...extra },
  });
  return [
    create("an empty request", INVALID, { name: "", volume_capabilities: [], secrets: {} }),
    create("no name", INVALID, { name: "" }),
    create("no volume_capabilities", INVALID, { volume_capabilities: [] }),
    create("a capability without access type", INVALID, { volume_capabilities: [{}] }),
    create("a block capability", INVALID, {
      volume_capabilities: [{ block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } }],
    }),
    create("access mode UNKNOWN", INVALID, { volume_capabilities: [mountCap("UNKNOWN")] }),
    create("a capability without access mode", INVALID, { volume_capabilities: [{ mount: {} }] }),
    create("a good and a block capability", INVALID, {
      volume_capabilities: [mountCap(), { block: {}, access_mode: { mode: "SINGLE_NODE_WRITER" } }],
    }),
    create("a volume id given as the source snapshot", "NOT_FOUND", {
      volume_content_source: { snapshot: { snapshot_id: "jfs1/itfs/delete/legit" } },
    }),
    create("no secrets", INVALID, { secrets: {} }),
    ...HOSTILE_NAMES.map(([what, name]) => create(`a name of ${what}`, INVALID, { name })),
    ...HOSTILE_PATTERNS.map(([what, p]) => create(`a pathPattern of ${what}`, INVALID, pattern(p))),
    ...HOSTILE_RENDERINGS.map(([what, p, extra]) =>
      create(`a pathPattern rendering ${what}`, INVALID, pattern(p, extra))
    ),
    create("a pathPattern onto another volume's directory", "ALREADY_EXISTS", pattern("legit")),
    create("PVC metadata rendering onto another volume's directory", "ALREADY_EXISTS", {
      name: "hv-thief",
      ...pattern("${pvc.namespace}/${pvc.name}", { [NS]: "team", [PVC]: "member" }),
    }),
    create("an existing name with another capacity", "ALREADY_EXISTS", {
      name: "legit",
      capacity_range: { required_bytes: String(2 * Number(GiB)) },
    }),
    create("an unknown parameter subdir", INVALID, { parameters: { subdir: "/" } }),
    create("a provisioner secret parameter left in", INVALID, {
      parameters: { "csi.storage.k8s.io/provisioner-secret-name": "other" },
    }),
    create("a 64 KiB parameter name", INVALID, { parameters: { [KiB64]: "x" } }),
    create("an unknown onDelete", INVALID, { parameters: { onDelete: "rm -rf /" } }),
    create("onDelete with a traversal", INVALID, { parameters: { onDelete: "../delete" } }),
    // Regression: bug C, found by this tier and fixed.
    create("mountOptions smuggling subdir=/", INVALID, { parameters: { mountOptions: "subdir=/" } }),
    create("mountOptions smuggling -d", INVALID, { parameters: { mountOptions: "-d" } }),
    // Regression: bug C, found by this tier and fixed.
    create("mountOptions smuggling secret-key", INVALID, {
      parameters: { mountOptions: `secret-key=${SECRET.parameter}` },
    }),
    create("mount_flags smuggling --subdir=/", INVALID, {
      volume_capabilities: [mountCap("SINGLE_NODE_WRITER", ["--subdir=/"])],
    }),
    create("a negative required_bytes", INVALID, { capacity_range: { required_bytes: "-1" } }),
    create("a negative limit_bytes", INVALID, { capacity_range: { limit_bytes: "-1" } }),
    create("limit_bytes below required_bytes", INVALID, {
      capacity_range: { required_bytes: String(2 * Number(GiB)), limit_bytes: GiB },
    }),
    // int64 on the wire: 2^63 arrives as -2^63, 2^64-1 as -1.
    create("required_bytes of 2^63", INVALID, { capacity_range: { required_bytes: "9223372036854775808" } }),
    create("limit_bytes of 2^64-1", INVALID, { capacity_range: { limit_bytes: "18446744073709551615" } }),
    // Regression: bug B, found by this tier and fixed.
    create("required_bytes of 2^63-1", "OUT_OF_RANGE", { capacity_range: { required_bytes: MAX_INT64 } }),
    // Regression: bug A, found by this tier and fixed.
    {
      ...create("no capacity_range at all", "OK", { name: "hv-no-capacity", capacity_range: null }),
      then: async (o) => {
        const id = (o.response?.volume as { volume_id: string }).volume_id;
        await call(d.controller, "DeleteVolume", { volume_id: id, secrets });
      },
    },
    // Regression: bug E, found by this tier and fixed.
    create("a name whose directory is a planted symlink", "FAILED_PRECONDITION", { name: "planted" }),
    // Issue 11 item 4: a directory the driver did not make is never adopted (nor chmod 0777).
    {
      ...create("a name whose directory exists and is not a volume", "ALREADY_EXISTS", { name: "private" }),
      then: async (o) => {
        assert(o.details.includes("/private"), `the message names the directory: ${o.details}`);
        assert(/static|pathPattern/.test(o.details), `the message says how to resolve it: ${o.details}`);
        assertEquals((await Deno.lstat(`${root}/private`)).mode! & 0o7777, 0o700, "its mode is unchanged");
        assertEquals(await Deno.readTextFile(`${root}/private/secret.txt`), "private");
      },
    },
    create("a pathPattern onto an existing directory that is not a volume", "ALREADY_EXISTS", {
      ...pattern("${pvc.namespace}/${pvc.name}", { [NS]: "team", [PVC]: "notes" }),
    }),
    // Issue 11 item 16: every segment fits, but the whole cannot be recorded: INVALID_ARGUMENT.
    create("a pathPattern whose record name would be too long", INVALID, {
      ...pattern(["a", "b", "c", "d"].map((c) => c.repeat(200)).join("/")),
    }),
    create("a pathPattern with a segment of 256 bytes", INVALID, pattern(`vols/${"s".repeat(256)}`)),
    create("a name of 256 bytes", INVALID, { name: "n".repeat(256) }),
    create("a name of 255 bytes whose record name would be too long", INVALID, {
      name: `${"n".repeat(250)}-tail`,
    }),
    {
      name: "the legitimate volume is untouched and the planted symlink still a symlink",
      method: "ValidateVolumeCapabilities",
      req: { volume_id: "jfs1/itfs/delete/legit", volume_capabilities: [mountCap()], secrets },
      code: "OK",
      then: async () => assert((await Deno.lstat(`${root}/planted`)).isSymlink),
    },
  ];
}

Deno.test({
  name: "hostile input: CreateVolume",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withSuite(t, async ({ d, guard, seen, createVolume }) => {
      await createVolume("legit");
      await createVolume("pv-member", {
        pathPattern: "${pvc.namespace}/${pvc.name}",
        [NS]: "team",
        [PVC]: "member",
      });
      const root = await fsRoot(d);
      // A user of the file system (a pod with a static PV of its root) plants a link to the host.
      await Deno.symlink(guard.sentinelDir, `${root}/planted`);
      // ... and keeps private directories, in the root and beside volumes.
      await Deno.mkdir(`${root}/private`, { mode: 0o700 });
      await Deno.chmod(`${root}/private`, 0o700);
      await Deno.writeTextFile(`${root}/private/secret.txt`, "private");
      await Deno.mkdir(`${root}/team/notes`, { mode: 0o700 });

      await t.step("the driver's metadata tree is root's and closed to tenants", async () => {
        for (const [path, mode] of [[".csi-jfs", 0o700], [".csi-jfs/volumes", 0o700]] as const) {
          const st = await Deno.lstat(`${root}/${path}`);
          assert(st.isDirectory, `/${path} is a directory`);
          assertEquals((st.mode! & 0o7777).toString(8), mode.toString(8), `mode of /${path}`);
          assertEquals(st.uid, 0, `owner of /${path}`);
        }
        for await (const e of Deno.readDir(`${root}/.csi-jfs/volumes`)) {
          const st = await Deno.lstat(`${root}/.csi-jfs/volumes/${e.name}`);
          assert(st.isFile, `record ${e.name} is a file`);
          assertEquals((st.mode! & 0o7777).toString(8), "600", `mode of record ${e.name}`);
          assertEquals(st.uid, 0, `owner of record ${e.name}`);
        }
      });

      await runCases(t, d, cases(d, root), seen);

      await t.step("nothing outside the legitimate volume directories changed", async () => {
        await guard.check();
        await Deno.remove(`${root}/planted`);
        await Deno.remove(`${root}/private`, { recursive: true });
        await Deno.remove(`${root}/team/notes`);
        await assertRootHolds(d, ["legit", "team/member"]);
        assertEquals(
          (await Array.fromAsync(Deno.readDir(`${root}/team`))).map((e) => e.name),
          ["member"],
        );
      });
    }),
});

// Hostile NodeStageVolume requests against the real driver: missing fields, malformed volume
// ids and static-PV attributes, staging paths that are relative, hold `..` or NUL, are regular
// files, symlinks, "/" or the node's client mount, and mount flags smuggling -d, --subdir,
// credentials and spaces. Nothing may be mounted outside what the driver itself staged.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, mountCap, mountsUnder } from "../support/driver.ts";
import { KiB64, SECRET } from "./support.ts";
import { BIG_ID, BLOCK, INVALID, LEGIT, requests, withNodeFixture } from "./node_support.ts";

/** Mount flags that would daemonize, move the root, or carry credentials or extra options. */
const HOSTILE_FLAGS: Array<[string, string[]]> = [
  ["-d", ["-d"]],
  ["--d", ["--d"]],
  ["d", ["d"]],
  ["background", ["background"]],
  ["--update-fstab", ["--update-fstab"]],
  ["subdir=/", ["subdir=/"]],
  ["--subdir=/", ["--subdir=/"]],
  ["--subdir=/etc", ["--subdir=/etc"]],
  ["subdir without a value", ["subdir"]],
  ["secret-key", ["secret-key=x"]],
  ["access-key", ["access-key=x"]],
  ["session-token", ["session-token=x"]],
  ["-d after a comma", ["allow-other,-d"]],
  ["--subdir behind a space", ["cache-size=1 --subdir=/"]],
  ["a value with a space", ["cache-dir=/tmp/a b"]],
  ["a name with a space", ["foo bar"]],
  ["an upper-case --Subdir", ["--Subdir=/"]],
  ["a newline", ["d\n"]],
  ["a NUL in a value", ["cache-dir=/tmp\0/x"]],
  ["5 KiB", ["cache-dir=/" + "x".repeat(5 * 1024)]],
];

Deno.test({
  name: "hostile input: NodeStageVolume",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withNodeFixture(t, (d, p) => {
      const { stage, staticPv } = requests(d, p);
      return [
        stage("an empty request", INVALID, {
          volume_id: "",
          staging_target_path: "",
          volume_capability: null,
          secrets: {},
        }),
        stage("no volume_id", INVALID, { volume_id: "" }),
        stage("no staging_target_path", INVALID, { staging_target_path: "" }),
        stage("no volume_capability", INVALID, { volume_capability: null }),
        stage("a capability without access type", INVALID, { volume_capability: {} }),
        stage("a block capability", INVALID, { volume_capability: BLOCK }),
        stage("access mode UNKNOWN", INVALID, { volume_capability: mountCap("UNKNOWN") }),
        stage("no secrets", INVALID, { secrets: {} }),
        stage("a volume_id with NUL", INVALID, { volume_id: `${LEGIT}\0` }),
        stage("a 10 KiB volume_id and no staging path", INVALID, {
          volume_id: BIG_ID,
          staging_target_path: "",
        }),
        stage("an id of another file system than the secrets", INVALID, {
          volume_id: "jfs1/otherfs/delete/legit",
        }),
        stage("a well-formed id of a volume never created", "NOT_FOUND", {
          volume_id: "jfs1/itfs/delete/never-created",
        }),
        // Regression: bug G, found by this tier and fixed.
        stage("an id with a `..` traversal", INVALID, { volume_id: "jfs1/itfs/delete/../../x" }),
        stage("an id naming the reserved directory", INVALID, { volume_id: "jfs1/itfs/delete/.csi-jfs" }),
        // Regression: bug E, found by this tier and fixed.
        stage("a volume whose directory is a planted symlink", "FAILED_PRECONDITION", {
          volume_id: "jfs1/itfs/retain/planted",
        }),
        staticPv("a static PV with subdir `../../etc`", INVALID, { subdir: "../../etc" }),
        staticPv("a static PV with subdir `a/../../b`", INVALID, { subdir: "a/../../b" }),
        staticPv("a static PV with subPath `../x`", INVALID, { subPath: "../x" }),
        staticPv("a static PV with subdir .csi-jfs", INVALID, { subdir: ".csi-jfs" }),
        staticPv("a static PV with subdir .csi-jfs/volumes", INVALID, { subdir: ".csi-jfs/volumes" }),
        staticPv("a static PV with subdir `%2e%2e`", INVALID, { subdir: "%2e%2e" }),
        staticPv("a static PV with a NUL in subdir", INVALID, { subdir: "legit\0" }),
        staticPv("a static PV with subdir of fullwidth full stops", INVALID, { subdir: "\uFF0E\uFF0E" }),
        staticPv("a static PV with a 64 KiB subdir", INVALID, { subdir: KiB64 }),
        staticPv("a static PV with subdir /etc, which stays inside the file system", "NOT_FOUND", {
          subdir: "/etc",
        }),
        stage("a relative staging path", INVALID, { staging_target_path: "staging/rel" }),
        stage("a staging path with `..`", INVALID, { staging_target_path: `${d.dir}/staging/../../etc` }),
        stage("a staging path with NUL", INVALID, { staging_target_path: `${d.dir}/staging/a\0b` }),
        stage("the staging path /", "ALREADY_EXISTS", { staging_target_path: "/" }),
        stage("the node's client mount as staging path", "ALREADY_EXISTS", { staging_target_path: p.client }),
        stage("another volume's staging path", "ALREADY_EXISTS", { staging_target_path: p.otherStaging }),
        stage("a retry at its own staging path", "OK", { staging_target_path: p.staging }),
        {
          ...stage("a staging path with a newline and a space", "OK", {
            staging_target_path: `${d.dir}/staging/new\nline and space`,
          }),
          then: async () => {
            const path = `${d.dir}/staging/new\nline and space`;
            await call(d.node, "NodeUnstageVolume", { volume_id: LEGIT, staging_target_path: path });
            assertEquals(mountsUnder(path), [], "unstaged");
          },
        },
        // Regression: bug H, found by this tier and fixed.
        stage("a staging path that is a regular file", "FAILED_PRECONDITION", {
          staging_target_path: p.sentinelFile,
        }),
        stage("a staging path under a regular file", "FAILED_PRECONDITION", {
          staging_target_path: `${p.sentinelFile}/x`,
        }),
        // Regression: bug I, found by this tier and fixed.
        stage("a staging path that is a symlink to a host directory", "FAILED_PRECONDITION", {
          staging_target_path: p.link,
        }),
        ...HOSTILE_FLAGS.map(([what, flags]) =>
          stage(`mount flags smuggling ${what}`, INVALID, {
            volume_capability: mountCap("SINGLE_NODE_WRITER", flags),
          })
        ),
        stage("a mountOptions attribute smuggling subdir=/", INVALID, {
          volume_context: { subdir: "legit", mountOptions: "subdir=/" },
        }),
        stage("a mountOptions attribute smuggling -d", INVALID, {
          volume_context: { subdir: "legit", mountOptions: "-d" },
        }),
        stage("a 64 KiB mountOptions attribute", INVALID, {
          volume_context: { subdir: "legit", mountOptions: KiB64 },
        }),
        // Regression: bug O, found by this tier and fixed.
        {
          ...stage("mount flags smuggling a real secret-key", INVALID, {
            volume_capability: mountCap("SINGLE_NODE_WRITER", [`secret-key=${SECRET.mountFlag}`]),
          }),
          then: async () =>
            assert(!(await d.logs()).includes(SECRET.mountFlag), "the smuggled secret is logged"),
        },
      ];
    }),
});

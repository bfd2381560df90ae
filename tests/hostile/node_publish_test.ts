// Hostile NodePublishVolume, NodeUnpublishVolume, NodeUnstageVolume and NodeGetVolumeStats
// requests against the real driver: missing fields, malformed and 10 KiB ids, target and
// staging paths that are relative, hold `..` or NUL, are regular files, symlinks, "/", foreign
// mounts or the node's client mount. Unpublish and unstage of what is not there are OK; nothing
// the driver did not mount may be mounted, unmounted or removed.
import { assertEquals } from "../../lib/testing/assert.ts";
import { GiB } from "./support.ts";
import { BIG_ID, BLOCK, INVALID, LEGIT, OTHER, requests, withNodeFixture } from "./node_support.ts";

Deno.test({
  name: "hostile input: NodePublishVolume, NodeUnpublishVolume, NodeUnstageVolume, NodeGetVolumeStats",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withNodeFixture(t, (d, p) => {
      const { c, publish, unpublish, unstage, stats, stillMounted, fileIntact } = requests(d, p);
      return [
        publish("an empty request", INVALID, {
          volume_id: "",
          staging_target_path: "",
          target_path: "",
          volume_capability: null,
        }),
        publish("no volume_id", INVALID, { volume_id: "" }),
        publish("no staging_target_path", INVALID, { staging_target_path: "" }),
        publish("no target_path", INVALID, { target_path: "" }),
        publish("no volume_capability", INVALID, { volume_capability: null }),
        publish("a block capability", INVALID, { volume_capability: BLOCK }),
        publish("a volume_id with NUL", INVALID, { volume_id: `${LEGIT}\0` }),
        publish("a 10 KiB volume_id and a relative target", INVALID, {
          volume_id: BIG_ID,
          target_path: "vol",
        }),
        publish("a relative target path", INVALID, { target_path: "pods/rel/vol" }),
        publish("a target path with `..`", INVALID, { target_path: `${d.dir}/pods/../../../etc` }),
        publish("a target path with NUL", INVALID, { target_path: `${d.dir}/pods/a\0b` }),
        publish("a relative staging path", INVALID, { staging_target_path: "staging/legit" }),
        publish("a staging path with `..`", INVALID, { staging_target_path: `${p.staging}/../../..` }),
        publish("a malformed id and a staging path never staged", "FAILED_PRECONDITION", {
          volume_id: "jfs1/itfs/delete/../../x",
          staging_target_path: `${d.dir}/staging/never`,
        }),
        publish("a staging path that is a plain directory", "FAILED_PRECONDITION", {
          staging_target_path: p.sentinelDir,
        }),
        // Regression: bug N, found by this tier and fixed.
        publish("a 10 KiB volume_id and a staging path never staged", "FAILED_PRECONDITION", {
          volume_id: BIG_ID,
          staging_target_path: `${d.dir}/staging/never`,
        }),
        publish("the target path /", "ALREADY_EXISTS", { target_path: "/" }),
        publish("the node's client mount as target", "ALREADY_EXISTS", { target_path: p.client }),
        publish("another volume's staging path as target", "ALREADY_EXISTS", { target_path: p.otherStaging }),
        publish("a published target again read-only", "ALREADY_EXISTS", {
          target_path: p.target,
          readonly: true,
        }),
        publish("a retry of a published target", "OK", { target_path: p.target }),
        // Regression: bug H, found by this tier and fixed.
        publish("a target path that is a regular file", "FAILED_PRECONDITION", {
          target_path: p.sentinelFile,
        }),
        publish("a target path under a regular file", "FAILED_PRECONDITION", {
          target_path: `${p.sentinelFile}/x`,
        }),
        // Regression: bug I, found by this tier and fixed.
        publish("a target path that is a symlink to a host directory", "FAILED_PRECONDITION", {
          target_path: p.link,
        }),
        // Regression: bug J, found by this tier and fixed.
        publish("the host root as staging path", "FAILED_PRECONDITION", { staging_target_path: "/" }),
        publish("a foreign mount as staging path", "FAILED_PRECONDITION", {
          staging_target_path: p.foreign,
        }),
        publish("the node's client mount as staging path", "FAILED_PRECONDITION", {
          staging_target_path: p.client,
        }),

        unpublish("an empty request", INVALID, { volume_id: "", target_path: "" }),
        unpublish("no volume_id", INVALID, { volume_id: "" }),
        unpublish("no target_path", INVALID, { target_path: "" }),
        unpublish("a volume_id with NUL", INVALID, { volume_id: `${LEGIT}\0` }),
        unpublish("a relative target path", INVALID, { target_path: "pods/rel/vol" }),
        unpublish("a target path with `..`", INVALID, { target_path: `${d.dir}/pods/../../../etc` }),
        unpublish("a target path with NUL", INVALID, { target_path: `${d.dir}/pods/a\0b` }),
        unpublish("an unknown volume", "OK", { volume_id: "never-published" }),
        unpublish("a malformed id", "OK", { volume_id: "jfs1/itfs/delete/../../x" }),
        unpublish("a 10 KiB id", "OK", { volume_id: BIG_ID }),
        unpublish("a non-empty host directory that is no mount", "OK", { target_path: p.sentinelDir }),
        // Regression: bug K, found by this tier and fixed.
        {
          ...unpublish("a target path that is a regular file", "OK", { target_path: p.sentinelFile }),
          then: fileIntact,
        },
        {
          ...unpublish("a target path holding a foreign mount", "FAILED_PRECONDITION", {
            target_path: p.foreign,
          }),
          then: stillMounted,
        },

        unstage("an empty request", INVALID, { volume_id: "", staging_target_path: "" }),
        unstage("no volume_id", INVALID, { volume_id: "" }),
        unstage("no staging_target_path", INVALID, { staging_target_path: "" }),
        unstage("a volume_id with NUL", INVALID, { volume_id: `${LEGIT}\0` }),
        unstage("a relative staging path", INVALID, { staging_target_path: "staging/rel" }),
        unstage("a staging path with `..`", INVALID, {
          staging_target_path: `${d.dir}/staging/../../../etc`,
        }),
        unstage("a staging path with NUL", INVALID, { staging_target_path: `${d.dir}/staging/a\0b` }),
        unstage("an unknown volume", "OK", { volume_id: "never-staged" }),
        unstage("a malformed id", "OK", { volume_id: "jfs1/itfs/delete/../../x" }),
        unstage("a 10 KiB id", "OK", { volume_id: BIG_ID }),
        unstage("a non-empty host directory that is no mount", "OK", { staging_target_path: p.sentinelDir }),
        // Regression: bug K, found by this tier and fixed.
        {
          ...unstage("a staging path that is a regular file", "OK", { staging_target_path: p.sentinelFile }),
          then: fileIntact,
        },
        {
          ...unstage("a staging path holding a foreign mount", "FAILED_PRECONDITION", {
            staging_target_path: p.foreign,
          }),
          then: stillMounted,
        },

        stats("an empty request", INVALID, { volume_id: "", volume_path: "" }),
        stats("no volume_id", INVALID, { volume_id: "" }),
        stats("no volume_path", INVALID, { volume_path: "" }),
        stats("a volume_id with NUL", INVALID, { volume_id: `${LEGIT}\0` }),
        stats("a volume_path with NUL", INVALID, { volume_path: `${p.target}\0` }),
        stats("a relative volume_path", "NOT_FOUND", { volume_path: "pods/p1/vol" }),
        stats("a volume_path that does not exist", "NOT_FOUND", { volume_path: `${d.dir}/pods/none/vol` }),
        stats("a volume_path with `..` that does not exist", "NOT_FOUND", {
          volume_path: `${d.dir}/pods/../none/..`,
        }),
        stats("a host directory that is no mount", "NOT_FOUND", { volume_path: p.sentinelDir }),
        stats("a 10 KiB id at a path that does not exist", "NOT_FOUND", {
          volume_id: BIG_ID,
          volume_path: `${d.dir}/none`,
        }),
        {
          ...stats("the published target", "OK", {}),
          then: (o) => {
            const usage = o.response?.usage as Array<{ unit: string; total: string }>;
            assertEquals(usage.find((u) => u.unit === "BYTES")?.total, GiB);
          },
        },
        // Regression: bug L, found by this tier and fixed.
        stats("the host root", "NOT_FOUND", {
          volume_id: "jfs1/itfs/delete/never-created",
          volume_path: "/",
        }),
        stats("another volume's path", "NOT_FOUND", { volume_id: OTHER }),
        c("NodeExpandVolume", "an RPC the driver does not offer", "UNIMPLEMENTED", {
          volume_id: LEGIT,
          volume_path: "/",
        }),
      ];
    }),
});

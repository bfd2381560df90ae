// Hostile unstage and unpublish requests aimed at mounts that are not the named volume's
// (issue 11 item 7): the controller's admin mount, another volume's staging path and target,
// a JuiceFS client the driver did not start, a foreign tmpfs. Each is FAILED_PRECONDITION
// with a clear message and changes nothing: the mount stays, its directory stays. And names
// the kernel cannot take (item 16): a component over 255 bytes is INVALID_ARGUMENT; stats of
// something that is not a directory are NOT_FOUND.
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { mountsUnder } from "../support/driver.ts";
import { INVALID, LEGIT, OTHER, requests, withNodeFixture } from "./node_support.ts";

const FP = "FAILED_PRECONDITION";
const LONG = "n".repeat(256);

Deno.test({
  name: "hostile input: unstage and unpublish of mounts that are not the volume's",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withNodeFixture(t, (d, p) => {
      const { stage, publish, unpublish, unstage, stats, stillMounted, fileIntact } = requests(d, p);
      /** The mount at `path` is still there, on top, as the fixture made it. */
      const stays = (path: string) => () => {
        assert(mountsUnder(path).includes(path), `${path} is still mounted`);
      };
      const stagedStays = () => {
        stays(p.staging)();
        stays(p.otherStaging)();
        stays(p.target)();
      };
      return [
        {
          ...unstage("the controller's admin mount", FP, { staging_target_path: p.admin }),
          then: stays(p.admin),
        },
        {
          ...unstage("the admin mount, with a static volume id", FP, {
            volume_id: "static-pv-handle",
            staging_target_path: p.admin,
          }),
          then: stays(p.admin),
        },
        {
          ...unstage("another volume's staging path", FP, { staging_target_path: p.otherStaging }),
          then: stagedStays,
        },
        {
          ...unstage("this volume's staging path with the other volume's id", FP, {
            volume_id: OTHER,
            staging_target_path: p.staging,
          }),
          then: stagedStays,
        },
        {
          ...unstage("a JuiceFS client the driver did not start", FP, { staging_target_path: p.foreignFuse }),
          then: stays(p.foreignFuse),
        },
        {
          ...unstage("the node's own client mount", FP, { staging_target_path: p.client }),
          then: stays(p.client),
        },
        {
          ...unstage("a published target", FP, { volume_id: OTHER, staging_target_path: p.target }),
          then: stagedStays,
        },
        { ...unstage("a foreign tmpfs", FP, { staging_target_path: p.foreign }), then: stillMounted },

        {
          ...unpublish("the controller's admin mount", FP, { target_path: p.admin }),
          then: stays(p.admin),
        },
        {
          ...unpublish("another volume's staging path", FP, { target_path: p.otherStaging }),
          then: stagedStays,
        },
        {
          ...unpublish("this volume's target with the other volume's id", FP, {
            volume_id: OTHER,
            target_path: p.target,
          }),
          then: stagedStays,
        },
        {
          ...unpublish("a JuiceFS client the driver did not start", FP, { target_path: p.foreignFuse }),
          then: stays(p.foreignFuse),
        },
        { ...unpublish("the node's own client mount", FP, { target_path: p.client }), then: stays(p.client) },
        { ...unpublish("a foreign tmpfs", FP, { target_path: p.foreign }), then: stillMounted },
        {
          ...publish("another volume's staging path as this volume's", FP, {
            staging_target_path: p.otherStaging,
          }),
          then: stagedStays,
        },

        stage("a staging path component of 256 bytes", INVALID, { staging_target_path: `${d.dir}/${LONG}` }),
        publish("a target path component of 256 bytes", INVALID, {
          target_path: `${d.dir}/pods/${LONG}/vol`,
        }),
        unstage("a staging path component of 256 bytes", INVALID, {
          staging_target_path: `${d.dir}/${LONG}`,
        }),
        unpublish("a target path component of 256 bytes", INVALID, { target_path: `${d.dir}/${LONG}` }),
        stats("a volume path component of 256 bytes", INVALID, { volume_path: `${d.dir}/${LONG}` }),
        {
          ...stats("a volume path that is a regular file", "NOT_FOUND", { volume_path: p.sentinelFile }),
          then: fileIntact,
        },
        stats("a volume path under a regular file", "NOT_FOUND", { volume_path: `${p.sentinelFile}/x` }),
        stats("a volume path that is a symlink", "NOT_FOUND", { volume_path: p.link }),
        {
          ...stats("the published target, once more", "OK", { volume_id: LEGIT }),
          then: () => assertEquals(mountsUnder(p.target), [p.target]),
        },
      ];
    }, { foreignFuse: true }),
});

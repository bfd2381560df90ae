// Helpers of the racing tests (stage_race_test.ts, publish_race_test.ts).
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { ROOT } from "../support/driver.ts";

/** The mount on top at `path`, from this process's mount table. */
export function mountEntry(path: string) {
  return parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo")).findLast((e) => e.mountPoint === path);
}

/** Starts the tenant racer on `dir`, exchanging `a` and `b`; stop() ends it and gives its count. */
export function startTenant(dir: string, a: string, b: string, stopFile: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/tests/integration/race_tenant.ts`, dir, a, b, stopFile],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  return {
    async stop(): Promise<{ swaps: number; failed: number }> {
      await Deno.writeTextFile(stopFile, "");
      const out = await child.output();
      return JSON.parse(new TextDecoder().decode(out.stdout).trim());
    },
  };
}

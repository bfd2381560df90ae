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

/** How many fds the node plugin of the driver in `dir` holds (to see that none leak). */
export function nodePluginFds(dir: string): number {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
    } catch { /* gone */ }
    if (
      cmdline.includes("--mode=node") && cmdline.includes(`unix://${dir}/n.sock`) &&
      cmdline.includes("main.ts")
    ) {
      return [...Deno.readDirSync(`/proc/${e.name}/fd`)].length;
    }
  }
  throw new Error("no node plugin process found");
}

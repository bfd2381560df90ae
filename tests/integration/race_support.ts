// Helpers of the racing tests (stage, publish, controller and snapshot races).
import { parseMountinfo } from "../../lib/mount/mountinfo.ts";
import { CallError, ROOT } from "../support/driver.ts";

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

/** The code name of a call's outcome, and the message of a failure. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (e) {
    if (e instanceof CallError) {
      return `${e.code}${e.code === "UNAVAILABLE" || e.code === "INTERNAL" ? `: ${e.details}` : ""}`;
    }
    throw e;
  }
}

/** The long-lived tenant racer of swap_racer.ts, driven line by line (the pair to swap can change). */
export interface Racer {
  swap(a: string, b: string): Promise<void>;
  /** Pauses the racer; resolves with its swap count once it has stopped swapping. */
  pause(): Promise<number>;
  stop(): Promise<void>;
}

export function startRacer(): Racer {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}/tests/integration/swap_racer.ts`],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = proc.stdin.getWriter();
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const readLine = async (): Promise<string> => {
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("the racer ended");
      pending += value;
    }
  };
  const enc = new TextEncoder();
  return {
    swap: (a, b) => w.write(enc.encode(`${a}\t${b}\n`)),
    async pause() {
      await w.write(enc.encode("\ncount\n"));
      return Number(await readLine());
    },
    async stop() {
      await w.close();
      await readLine().catch(() => "");
      await proc.status;
    },
  };
}

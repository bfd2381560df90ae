import { redact } from "./redact.ts";

export interface RunOptions {
  /** Extra environment; secret-bearing values go here, never in args. */
  env?: Record<string, string>;
  timeoutMs?: number;
  stdin?: string;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to completion. The one door to exec, so tests can swap it. */
export interface CommandRunner {
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
}

export class ExecError extends Error {
  constructor(readonly cmd: string, readonly args: string[], readonly result: RunResult) {
    const out = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join(" | ");
    const why = result.timedOut ? "timed out" : `exited ${result.code}`;
    super(redact(`${cmd} ${args.join(" ")} ${why}: ${out}`));
    this.name = "ExecError";
  }
}

/** Runs and throws ExecError on a non-zero exit; returns stdout. */
export async function runOk(
  runner: CommandRunner,
  cmd: string,
  args: string[],
  opts?: RunOptions,
): Promise<string> {
  const r = await runner.run(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) throw new ExecError(cmd, args, r);
  return r.stdout;
}

/**
 * What `child.output()` returns, read without it: in Deno 2.9 `ChildProcess.output()` keeps
 * about 100 KB of native memory per call that no GC frees (denoland/deno#33334; its fix covers
 * `Command.output()` only). A node plugin spawning mount and umount per publish grew by
 * ~200 MB per 1,000 publish cycles; reading the pipes through Response bodies keeps it flat.
 */
export async function collectOutput(child: Deno.ChildProcess): Promise<Deno.CommandOutput> {
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).bytes(),
    new Response(child.stderr).bytes(),
    child.status,
  ]);
  return { ...status, stdout, stderr };
}

export class DenoCommandRunner implements CommandRunner {
  /** After a timeout's SIGTERM, how long before the whole process group gets SIGKILL. */
  constructor(private killGraceMs = 2_000) {}

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    let timedOut = false;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    try {
      // Its own process group, so a timeout ends forked children that hold the pipes too.
      const child = new Deno.Command(cmd, {
        args,
        env: opts.env ?? {},
        stdin: opts.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        detached: true,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
      }).spawn();
      const killGroup = (sig: Deno.Signal) => {
        try {
          Deno.kill(-child.pid, sig);
        } catch { /* already gone */ }
      };
      if (opts.timeoutMs) {
        timers.push(setTimeout(() => {
          timedOut = true;
          killGroup("SIGTERM");
          timers.push(setTimeout(() => killGroup("SIGKILL"), this.killGraceMs));
        }, opts.timeoutMs));
      }
      if (opts.stdin !== undefined) {
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(opts.stdin));
        await w.close();
      }
      const output = collectOutput(child);
      // After the timeout and the kill, stop waiting: a child stuck in the kernel (a FUSE request
      // to a stopped client) or one that escaped the group holding our pipes must not hang us.
      const abandoned = new Promise<null>((resolve) => {
        if (opts.timeoutMs) {
          timers.push(setTimeout(() => resolve(null), opts.timeoutMs + 2 * this.killGraceMs));
        }
      });
      const out = await Promise.race([output, abandoned]);
      if (out === null) {
        output.catch(() => {});
        return {
          code: -1,
          stdout: "",
          stderr: `${cmd} did not exit after SIGKILL; abandoned`,
          timedOut: true,
        };
      }
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), timedOut };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        return { code: 127, stdout: "", stderr: `${cmd}: command not found`, timedOut: false };
      }
      throw e;
    } finally {
      timers.forEach(clearTimeout);
    }
  }
}

export interface FakeCall {
  cmd: string;
  args: string[];
  env: Record<string, string>;
}

/** Records calls and answers from handlers matched on "cmd arg0 arg1 ...". */
export class FakeRunner implements CommandRunner {
  readonly calls: FakeCall[] = [];
  private handlers: Array<[RegExp, (call: FakeCall) => Partial<RunResult>]> = [];

  on(pattern: RegExp, answer: Partial<RunResult> | ((call: FakeCall) => Partial<RunResult>)): this {
    this.handlers.push([pattern, typeof answer === "function" ? answer : () => answer]);
    return this;
  }

  run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const call = { cmd, args, env: opts.env ?? {} };
    this.calls.push(call);
    const line = [cmd, ...args].join(" ");
    for (let i = this.handlers.length - 1; i >= 0; i--) {
      const h = this.handlers[i];
      if (h && h[0].test(line)) {
        return Promise.resolve({ code: 0, stdout: "", stderr: "", timedOut: false, ...h[1](call) });
      }
    }
    return Promise.resolve({ code: 0, stdout: "", stderr: "", timedOut: false });
  }

  commandLines(): string[] {
    return this.calls.map((c) => [c.cmd, ...c.args].join(" "));
  }
}

/** The node's processes, as much as the process backend needs; a fake replaces it in unit tests. */
export interface ProcessTable {
  isAlive(pid: number): Promise<boolean>;
  /** Whether `pid` is a mount-supervisor serving `mountPath` (guards against pid reuse). */
  isSupervisor(pid: number, mountPath: string): Promise<boolean>;
  signal(pid: number, sig: Deno.Signal): Promise<void>;
}

export class SystemProcessTable implements ProcessTable {
  async isAlive(pid: number): Promise<boolean> {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
    // A zombie has exited; its parent just has not reaped it yet.
    return stat !== "" && !/\) Z /.test(stat);
  }

  async isSupervisor(pid: number, mountPath: string): Promise<boolean> {
    if (!(await this.isAlive(pid))) return false;
    const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")).split("\0");
    const dir = mountPath.replace(/\/mnt$/, "");
    return cmdline.includes("--mode=mount-supervisor") && cmdline.some((a) => a.includes(dir));
  }

  signal(pid: number, sig: Deno.Signal): Promise<void> {
    try {
      Deno.kill(pid, sig);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return Promise.resolve();
  }
}

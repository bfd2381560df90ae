import type { PathFd } from "../fs/beneath.ts";
import type { Cloner } from "../juicefs/clone.ts";

/**
 * A Cloner for unit tests on plain directories (no JuiceFS): `cp -a` of the opened source
 * into the opened parent, both named through this process's fds. `failAfterCopy` makes the
 * next clone leave a partial tree and fail, as a clone that dies midway would.
 */
export class CopyCloner implements Cloner {
  calls = 0;
  failNext = false;

  async clone(src: PathFd, dstParent: PathFd, name: string): Promise<void> {
    this.calls++;
    const from = `/proc/${Deno.pid}/fd/${src.fd}/.`;
    const to = `/proc/${Deno.pid}/fd/${dstParent.fd}/${name}`;
    if (this.failNext) {
      this.failNext = false;
      await Deno.mkdir(to);
      await Deno.writeTextFile(`${to}/partial`, "half");
      throw new Error("clone failed midway (test)");
    }
    const out = await new Deno.Command("cp", { args: ["-a", from, to], stderr: "piped" }).output();
    if (!out.success) throw new Error(`cp -a: ${new TextDecoder().decode(out.stderr)}`);
  }
}

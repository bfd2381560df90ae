/**
 * The clone helper process (see ControlFileCloner in clone.ts): opens `<dir>/.control` of a
 * JuiceFS mount, sends the Clone message given in hex, waits for the reply and prints
 * "errno N". Nothing may close a copy of the control fd while the clone runs: each close sends
 * a FUSE FLUSH, and JuiceFS cancels the clone on it. So this process spawns nothing (a child
 * closes its inherited copy at exec), and it reads and writes with the sync calls (Deno's
 * async file ops work on a duplicate of the fd and close it after each call).
 *
 * Usage: deno run --allow-all clone_helper.ts <dir in the mount> <hex message>
 */
import { parseReply } from "./clone_protocol.ts";

const POLL_MS = 50;

async function main(): Promise<number> {
  const [dir, hex] = Deno.args;
  if (!dir || !hex || !/^([0-9a-f]{2})+$/.test(hex)) {
    console.error("usage: clone_helper.ts <dir> <hex message>");
    return 2;
  }
  const msg = new Uint8Array(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  const f = Deno.openSync(`${dir}/.control`, { read: true, write: true });
  let off = 0;
  while (off < msg.length) off += f.writeSync(msg.subarray(off));
  const pending: number[] = [];
  const buf = new Uint8Array(1 << 16);
  for (;;) {
    const n = f.readSync(buf);
    if (n === null || n === 0) {
      // Nothing yet: the client writes progress every 300 ms and the errno at the end.
      await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    const errno = parseReply(pending, buf.subarray(0, n));
    if (errno !== undefined) {
      console.log(`errno ${errno}`);
      return 0;
    }
  }
}

Deno.exit(await main());

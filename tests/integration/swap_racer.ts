// A tenant racing the driver: swaps two names (a directory and a symbolic link to a host
// directory) with renameat2(RENAME_EXCHANGE) as fast as it can. Each stdin line
// "<pathA>\t<pathB>" names the pair to swap from then on; an empty line pauses, EOF ends.
// Prints the number of successful swaps on each line "count" and at the end.
import { AT_FDCWD, RENAME_EXCHANGE, renameat2 } from "../../lib/fs/libc_fs.ts";

let pair: [string, string] | undefined;
let swaps = 0;
let done = false;

(async () => {
  let buf = "";
  const dec = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    buf += dec.decode(chunk);
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === "count") console.log(String(swaps));
      else if (line === "") pair = undefined;
      else {
        const [a, b] = line.split("\t");
        pair = [a!, b!];
      }
    }
  }
  done = true;
})();

while (!done) {
  if (pair) {
    for (let i = 0; i < 64; i++) {
      if (renameat2(AT_FDCWD, pair[0], AT_FDCWD, pair[1], RENAME_EXCHANGE).ret === 0) swaps++;
    }
  }
  await new Promise((r) => setTimeout(r, pair ? 0 : 5));
}
console.log(String(swaps));

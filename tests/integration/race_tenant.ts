// A tenant racing the driver: exchanges (renameat2 RENAME_EXCHANGE) two names in a JuiceFS
// directory as fast as it can, until the file `stop` appears, then prints how many swaps
// it made. Run as a child: deno run -A race_tenant.ts <dir> <a> <b> <stop>
import * as libc from "../../lib/fs/libc_fs.ts";

const [dir, a, b, stop] = Deno.args;
if (!dir || !a || !b || !stop) throw new Error("usage: race_tenant.ts <dir> <a> <b> <stop>");
let swaps = 0;
let failed = 0;
for (let i = 0;; i++) {
  // Look for the stop file now and then: each look is a syscall the racer does not make.
  if (i % 64 === 0) {
    try {
      Deno.statSync(stop);
      break;
    } catch { /* keep racing */ }
  }
  const r = libc.renameat2(libc.AT_FDCWD, `${dir}/${a}`, libc.AT_FDCWD, `${dir}/${b}`, libc.RENAME_EXCHANGE);
  if (r.ret === 0) swaps++;
  else failed++;
}
console.log(JSON.stringify({ swaps, failed }));

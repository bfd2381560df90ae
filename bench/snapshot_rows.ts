// Issue 10's row: CreateSnapshot of a volume of BENCH_SNAPSHOT_FILES files (10,000;
// BENCH_SNAPSHOT_MIB MiB in all, 100 by default) against `cp -a` of the same tree into another
// volume of the same file system, both through the node's staged mounts.
import type { BenchDriver } from "./driver.ts";
import type { Row } from "./report.ts";
import { sh, timed } from "./exec.ts";

const env = (name: string, def: number): number => Number(Deno.env.get(name) ?? def);

export async function snapshotRows(d: BenchDriver): Promise<Row[]> {
  const files = env("BENCH_SNAPSHOT_FILES", 10_000);
  const mib = env("BENCH_SNAPSHOT_MIB", 100);
  const src = await d.create("bench-snapshot-src");
  const dst = await d.create("bench-snapshot-cp");
  const srcPath = await d.stage(src);
  const dstPath = await d.stage(dst);
  try {
    const kib = Math.max(1, Math.floor((mib * 1024) / files));
    // 100 directories of files, each of `kib` KiB of random bytes.
    await sh(
      `cd '${srcPath}' && head -c ${kib * 1024 * 64} /dev/urandom > /tmp/.bench-pool-$$ && ` +
        `for d in $(seq 0 99); do mkdir -p d$d; done && ` +
        `for i in $(seq 0 ${files - 1}); do dd if=/tmp/.bench-pool-$$ of=d$((i % 100))/f$i bs=1024 ` +
        `skip=$((i % 64 * ${kib})) count=${kib} status=none; done; rm -f /tmp/.bench-pool-$$`,
    );
    const snapMs = await timed(() => d.snapshot(src, "bench-snapshot"));
    const cpMs = await timed(() => sh(`cp -a '${srcPath}/.' '${dstPath}/copy'`));
    const what = `a ${files.toLocaleString("en")}-file volume (${mib} MiB)`;
    return [
      { name: `snapshot: CreateSnapshot of ${what}`, unit: "ms", value: snapMs, runs: 1 },
      { name: `snapshot: cp -a of the same tree`, unit: "ms", value: cpMs, runs: 1 },
    ];
  } finally {
    await d.unstage(src, srcPath);
    await d.unstage(dst, dstPath);
  }
}

// `make bench`: what csi-jfs costs, each figure beside its floor measured in the same run
// (a bare `mount --bind`, `umount`, `juicefs mount -d`, `juicefs quota set`, an idle Deno), on
// the embedded default with real FUSE. Prints one table and writes it as JSON under
// bench/results/. Never fails on a missed target: the numbers are for reading, not for gating
// (timings flake on shared machines). Row numbers are those of issue 8; row 9 (pod start on
// the test cluster) is `make bench-cluster` (bench/cluster.ts).
import { BenchDriver, type Volume } from "./driver.ts";
import { printTable, type Row, type Target } from "./report.ts";
import { sh, timed, timedCmd } from "./exec.ts";
import { summarize } from "./stats.ts";
import { snapshotRows } from "./snapshot_rows.ts";

const env = (name: string, def: number): number => Number(Deno.env.get(name) ?? def);
const RUNS = env("BENCH_RUNS", 100);
const STAGE_RUNS = env("BENCH_STAGE_RUNS", 10);
const CREATE_RUNS = env("BENCH_CREATE_RUNS", 50);
const COLD_CREATE_RUNS = env("BENCH_COLD_CREATE_RUNS", CREATE_RUNS);
const CYCLES = env("BENCH_CYCLES", 1000);
const LONG_CYCLES = env("BENCH_LONG_CYCLES", 5000);
const CONCURRENT = env("BENCH_CONCURRENT", 100);
const DD_MIB = env("BENCH_DD_MIB", 1024);
const DD_ROUNDS = env("BENCH_DD_ROUNDS", 5);
const STARTUP_RUNS = env("BENCH_STARTUP_RUNS", 10);

const rows: Row[] = [];
const add = (row: Row) => {
  rows.push(row);
  console.error(`  ${row.name}: ${Math.round(row.value * 100) / 100} ${row.unit}`);
};
const ms = (samples: number[], name: string, floor?: number[], target?: Target): Row => {
  const s = summarize(samples);
  const f = floor ? summarize(floor) : undefined;
  return {
    name,
    unit: "ms",
    value: s.p50,
    p95: s.p95,
    runs: s.runs,
    ...(f ? { floor: f.p50, ratio: s.p50 / f.p50 } : {}),
    ...(target ? { target } : {}),
  };
};
const mib = (name: string, value: number, floor?: number, target?: Target): Row => ({
  name,
  unit: "MiB",
  value,
  ...(floor !== undefined ? { floor, ratio: value / floor } : {}),
  ...(target ? { target } : {}),
});
const median = (xs: number[]) => summarize(xs).p50;

const d = await BenchDriver.start();
try {
  const bareDeno = await d.bareDenoMemory();
  const nodeFresh = await d.rssMiB("node");
  const controllerFresh = await d.rssMiB("controller");
  const volumes = new Map<string, Volume>();
  const volume = async (name: string) => {
    const v = volumes.get(name) ?? await d.create(name);
    volumes.set(name, v);
    return v;
  };

  // 1. Warm publish and unpublish of a staged volume, call by call against bind/umount.
  console.error(`publish / unpublish (${RUNS})`);
  const v1 = await volume("bench-publish");
  const staging1 = await d.stage(v1);
  const pub: number[] = [], unpub: number[] = [], bind: number[] = [], umount: number[] = [];
  const floorDir = `${d.dir}/floor`;
  for (let i = 0; i < RUNS; i++) {
    const target = `${d.dir}/targets/p${i}`;
    pub.push(await timed(() => d.publish(v1, staging1, target)));
    unpub.push(await timed(() => d.unpublish(v1, target)));
    await Deno.mkdir(`${floorDir}/${i}`, { recursive: true });
    bind.push(await timedCmd("mount", ["--bind", staging1, `${floorDir}/${i}`]));
    umount.push(await timedCmd("umount", [`${floorDir}/${i}`]));
  }
  add(ms(pub, "1. warm NodePublishVolume", bind, { over: 2, what: "≤ bind floor + 2 ms" }));
  add(ms(unpub, "1. warm NodeUnpublishVolume", umount, { over: 2, what: "≤ umount floor + 2 ms" }));

  // 3. Warm stage: the client already runs (v1 keeps it), so a stage is one bind.
  console.error("warm stage");
  const warm: number[] = [], warmFloor: number[] = [];
  const v3 = await volume("bench-warm-stage");
  for (let i = 0; i < Math.min(RUNS, 50); i++) {
    const staging = `${d.dir}/staging/warm-${i}`;
    warm.push(await timed(() => d.stage(v3, staging)));
    await d.unstage(v3, staging);
    await Deno.mkdir(`${floorDir}/w${i}`, { recursive: true });
    warmFloor.push(await timedCmd("mount", ["--bind", staging1, `${floorDir}/w${i}`]));
    await sh(`umount ${floorDir}/w${i}`);
  }
  add(ms(warm, "3. warm NodeStageVolume", warmFloor));

  // 5. Concurrent publishes of one volume: wall time, how many clients served them, and the
  // same publishes one after another (concurrency should make them faster, not only correct).
  console.error(`${CONCURRENT} concurrent publishes`);
  const targets = Array.from({ length: CONCURRENT }, (_, i) => `${d.dir}/targets/c${i}`);
  const wall = await timed(() => Promise.all(targets.map((t) => d.publish(v1, staging1, t))).then(() => {}));
  const clients = await d.clientCount();
  await Promise.all(targets.map((t) => d.unpublish(v1, t)));
  const sequential = await timed(async () => {
    for (const t of targets) await d.publish(v1, staging1, t);
  });
  for (const t of targets) await d.unpublish(v1, t);
  add({
    name: `5. ${CONCURRENT} concurrent NodePublishVolume (wall)`,
    unit: "ms",
    value: wall,
    floor: sequential,
    ratio: wall / sequential,
    target: { max: 3000, what: "≤ 3 s (floor: one by one)" },
  });
  add({ name: "5. clients serving them", unit: "clients", value: clients, target: { max: 1, what: "= 1" } });
  await d.unstage(v1, staging1);

  // 2. Cold stage: the first volume of a file system starts its client.
  console.error(`cold stage (${STAGE_RUNS})`);
  const cold: number[] = [], coldFloor: number[] = [];
  for (let i = 0; i < STAGE_RUNS; i++) {
    const staging = `${d.dir}/staging/cold-${i}`;
    cold.push(await timed(() => d.stage(v1, staging)));
    await d.unstage(v1, staging);
    await d.waitNoClients();
    coldFloor.push(await d.bareMountAndBind(`${floorDir}/c${i}`));
  }
  add(ms(cold, "2. cold NodeStageVolume", coldFloor, { over: 150, what: "≤ juicefs mount floor + 150 ms" }));

  // 4. CreateVolume, warm (admin mount open) and cold (controller restarted), vs by hand.
  console.error(`CreateVolume (${CREATE_RUNS} warm, ${COLD_CREATE_RUNS} cold)`);
  const createWarm: number[] = [], createFloor: number[] = [];
  for (let i = 0; i < CREATE_RUNS; i++) {
    let v: Volume | undefined;
    createWarm.push(await timed(async () => void (v = await d.create(`bench-create-${i}`))));
    await d.delete(v!);
    createFloor.push(await d.byHandCreate(`floor-${i}`));
  }
  add(ms(createWarm, "4. warm CreateVolume", createFloor, { max: 50, what: "median ≤ 50 ms" }));
  const createCold: number[] = [];
  for (let i = 0; i < COLD_CREATE_RUNS; i++) {
    await d.restartController();
    let v: Volume | undefined;
    createCold.push(await timed(async () => void (v = await d.create(`bench-cold-${i}`))));
    await d.delete(v!);
  }
  add(ms(createCold, "4. cold CreateVolume (controller restarted)", createFloor));

  // 7. Throughput through a published target against the bare mount of the same client.
  console.error(`throughput (${DD_ROUNDS} rounds of ${DD_MIB} MiB)`);
  const staging7 = await d.stage(v1, `${d.dir}/staging/tp`);
  const target7 = `${d.dir}/targets/tp`;
  await d.publish(v1, staging7, target7);
  const bare = await d.bareClientMount();
  const via = { write: [] as number[], read: [] as number[] };
  const direct = { write: [] as number[], read: [] as number[] };
  // Alternated, and in turn first (ABBA): the page cache and the object store warm up over the
  // rounds and the machine's load drifts; medians of each side are compared.
  for (let i = 0; i < DD_ROUNDS; i++) {
    const order = i % 2 === 0
      ? [[target7, via], [bare, direct]] as const
      : [[bare, direct], [target7, via]] as const;
    for (const [path, into] of order) {
      const r = await d.ddThroughput(path, DD_MIB);
      into.write.push(r.write);
      into.read.push(r.read);
    }
  }
  for (const what of ["write", "read"] as const) {
    add({
      name: `7. sequential ${what} via target / bare mount`,
      unit: "ratio",
      value: median(via[what]) / median(direct[what]),
      target: { min: 0.97, what: "≥ 0.97" },
    });
    add({
      name: `7. sequential ${what} via target`,
      unit: "MiB/s",
      value: median(via[what]),
      floor: median(direct[what]),
    });
  }
  const supervisor = await d.supervisorMemory();
  add(
    mib("6. process-mode mount-supervisor RSS", supervisor.rss, bareDeno.rss, { max: 40, what: "≤ 40 MB" }),
  );
  add(
    mib(
      `6. mount-supervisor PSS (${supervisor.private.toFixed(1)} MiB private)`,
      supervisor.pss,
      bareDeno.pss,
    ),
  );
  add(mib("6. idle Deno process RSS (the floor)", bareDeno.rss));
  await d.unpublish(v1, target7);

  // 6. Memory: RSS at start and after many publish/unpublish and create/delete cycles.
  console.error(`memory over ${CYCLES} and ${LONG_CYCLES} cycles`);
  const nodeBefore = await d.rssMiB("node");
  const cycle = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const t = `${d.dir}/targets/m`;
      await d.publish(v1, staging7, t);
      await d.unpublish(v1, t);
    }
  };
  const cycleTime = await timed(() => cycle(CYCLES));
  const node1k = await d.rssMiB("node");
  await cycle(Math.max(0, LONG_CYCLES - CYCLES));
  const nodeLong = await d.rssMiB("node");
  const rssTarget = { max: 80, what: "≤ 80 MB" };
  add(mib("6. node plugin RSS at start", nodeFresh, bareDeno.rss, rssTarget));
  add(mib("6. node plugin RSS after the rows above", nodeBefore, bareDeno.rss, rssTarget));
  add(mib(`6. node plugin RSS after ${CYCLES} more publish cycles`, node1k, bareDeno.rss, rssTarget));
  add(mib(`6. node plugin RSS after ${LONG_CYCLES} publish cycles`, nodeLong, bareDeno.rss, rssTarget));
  add(mib(`6. node plugin RSS growth ${CYCLES} → ${LONG_CYCLES} cycles`, nodeLong - node1k, undefined, {
    max: 5,
    what: "≤ 5 MB",
  }));
  add({
    name: "6. one publish + unpublish cycle (mean)",
    unit: "ms",
    value: cycleTime / Math.max(1, CYCLES),
  });
  const controllerStart = await d.rssMiB("controller");
  for (let i = 0; i < CYCLES; i++) await d.delete(await d.create(`bench-mem-${i % 10}`));
  const controllerEnd = await d.rssMiB("controller");
  add(mib("6. controller RSS at start", controllerFresh, bareDeno.rss));
  add(mib(`6. controller RSS after ${CYCLES} create/delete`, controllerEnd, bareDeno.rss));
  add(mib(`6. controller RSS growth over ${CYCLES} create/delete`, controllerEnd - controllerStart));
  await d.unstage(v1, staging7);

  // 8. Start-up: the node plugin until its socket answers Probe.
  console.error(`start-up (${STARTUP_RUNS})`);
  const startup: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) startup.push(await d.nodeStartupMs());
  add(ms(startup, "8. node plugin start until Probe answers"));
  // Issue 10: snapshot time against cp -a (bench/snapshot_rows.ts).
  console.error("snapshot vs cp -a");
  for (const row of await snapshotRows(d)) add(row);
} finally {
  await d.stop();
}

await printTable(rows, {
  runs: RUNS,
  stageRuns: STAGE_RUNS,
  createRuns: CREATE_RUNS,
  coldCreateRuns: COLD_CREATE_RUNS,
  cycles: CYCLES,
  longCycles: LONG_CYCLES,
  concurrent: CONCURRENT,
  ddMiB: DD_MIB,
  ddRounds: DD_ROUNDS,
  startupRuns: STARTUP_RUNS,
  v8Flags: Deno.env.get("CSI_JFS_V8_FLAGS") ?? "bin/csi-jfs defaults",
});

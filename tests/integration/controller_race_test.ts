// Issue 11 items 1 and 3 on real JuiceFS: a tenant who can write the file system keeps
// swapping a volume's directory (or its parent) with a symbolic link to a host directory
// while CreateVolume sets the quota and the mode, while DeleteVolume deletes or archives, and
// while ControllerExpandVolume raises the quota.
// However the race falls, no host directory changes mode, loses a file or moves. Hundreds
// of attempts each; the attempts, the swaps made and the outcomes are printed.
import { dirname } from "node:path";
import { AT_FDCWD, RENAME_EXCHANGE, renameat2 } from "../../lib/fs/libc_fs.ts";
import { assert, assertEquals } from "../../lib/testing/assert.ts";
import { call, type Driver, mountCap, mountsUnder, startDriver } from "../support/driver.ts";
import { codeOf, startRacer } from "./race_support.ts";

const CREATES = Number(Deno.env.get("RACE_CREATES") ?? 300);
const DELETES = Number(Deno.env.get("RACE_DELETES") ?? 150);
const EXPANDS = Number(Deno.env.get("RACE_EXPANDS") ?? 150);

/** A host directory the links point at, and a check that it is exactly as made. */
async function hostDir(d: Driver) {
  const dir = `${dirname(d.dir)}/csi-jfs-race-host-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${dir}/vol`, { recursive: true });
  await Deno.writeTextFile(`${dir}/keep.txt`, "keep");
  await Deno.writeTextFile(`${dir}/vol/keep.txt`, "keep");
  await Deno.chmod(dir, 0o750);
  await Deno.chmod(`${dir}/vol`, 0o750);
  const state = async () => {
    const out: string[] = [];
    for (const p of ["", "/vol", "/keep.txt", "/vol/keep.txt"]) {
      const st = await Deno.lstat(`${dir}${p}`).catch(() => undefined);
      out.push(`${p || "/"} ${st ? (st.mode! & 0o7777).toString(8) : "gone"} ${st?.ino ?? ""}`);
    }
    return out;
  };
  const before = await state();
  return {
    dir,
    check: async (what: string) => assertEquals(await state(), before, `the host directory changed: ${what}`),
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

function adminRoot(d: Driver): string {
  const base = `${d.dir}/state/controller/clients/`;
  const roots = mountsUnder(base).filter((m) => m.endsWith("/mnt"));
  assertEquals(roots.length, 1, `one admin mount expected: ${roots.join(", ")}`);
  return roots[0]!;
}

const create = (d: Driver, name: string, parameters: Record<string, string> = {}) =>
  call<{ volume: { volume_id: string } }>(d.controller, "CreateVolume", {
    name,
    capacity_range: { required_bytes: String(1 << 30) },
    volume_capabilities: [mountCap()],
    parameters,
    secrets: d.secrets,
  });

const tally = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const show = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ${n}`).join(", ");

Deno.test({
  name: "race: CreateVolume against a tenant swapping the new directory with a link to a host directory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    const host = await hostDir(d);
    const racer = startRacer();
    try {
      await create(d, "warm-up"); // mounts the file system once
      const root = adminRoot(d);
      const outcomes = new Map<string, number>();
      let swaps = 0;
      for (let i = 0; i < CREATES; i++) {
        const name = `rc-${i}`;
        await Deno.symlink(host.dir, `${root}/${name}.lnk`);
        await racer.swap(`${root}/${name}`, `${root}/${name}.lnk`);
        const code = await codeOf(create(d, name));
        swaps += await racer.pause();
        tally(outcomes, code);
        assert(["OK", "FAILED_PRECONDITION", "ALREADY_EXISTS"].includes(code), `attempt ${i}: ${code}`);
        await host.check(`attempt ${i} (${code})`);
      }
      console.log(`CreateVolume race: ${CREATES} attempts, ${swaps} swaps; outcomes: ${show(outcomes)}`);
      assert((outcomes.get("OK") ?? 0) > 0, "some creates succeed");
    } finally {
      await racer.stop();
      await d.stop();
      await host.cleanup();
    }
  },
});

Deno.test({
  name: "race: DeleteVolume (delete, archive) against a tenant swapping the directory's parent with a link",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    const host = await hostDir(d);
    const racer = startRacer();
    try {
      await create(d, "warm-up");
      const root = adminRoot(d);
      const outcomes = new Map<string, number>();
      let swaps = 0;
      for (let i = 0; i < DELETES; i++) {
        const policy = i % 2 === 0 ? "delete" : "archive";
        const parent = `rd-${i}`;
        const { volume } = await create(d, `pv-rd-${i}`, { onDelete: policy, pathPattern: `${parent}/vol` });
        await Deno.writeTextFile(`${root}/${parent}/vol/data.txt`, "data");
        await Deno.symlink(host.dir, `${root}/${parent}.lnk`);
        // The parent swapped: `rd-i/vol` then names the host directory's `vol`.
        await racer.swap(`${root}/${parent}`, `${root}/${parent}.lnk`);
        const del = () =>
          codeOf(call(d.controller, "DeleteVolume", { volume_id: volume.volume_id, secrets: d.secrets }));
        const code = await del();
        swaps += await racer.pause();
        tally(outcomes, `${policy} ${code}`);
        assert(["OK", "FAILED_PRECONDITION"].includes(code), `attempt ${i}: ${code}`);
        await host.check(`attempt ${i} (${policy} ${code})`);
        // Undisturbed (the directory back in its place), the refused delete goes through.
        if ((await Deno.lstat(`${root}/${parent}`)).isSymlink) {
          renameat2(AT_FDCWD, `${root}/${parent}`, AT_FDCWD, `${root}/${parent}.lnk`, RENAME_EXCHANGE);
        }
        if (code !== "OK") assertEquals(await del(), "OK", `attempt ${i}: a delete after the race`);
        await host.check(`attempt ${i} (${policy} ${code}, then delete)`);
      }
      console.log(`DeleteVolume race: ${DELETES} attempts, ${swaps} swaps; outcomes: ${show(outcomes)}`);
    } finally {
      await racer.stop();
      await d.stop();
      await host.cleanup();
    }
  },
});

Deno.test({
  name: "race: ControllerExpandVolume against a tenant swapping the directory with a link",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await startDriver();
    const host = await hostDir(d);
    const racer = startRacer();
    try {
      const { volume } = await create(d, "rx");
      const root = adminRoot(d);
      await Deno.symlink(host.dir, `${root}/rx.lnk`);
      const outcomes = new Map<string, number>();
      let swaps = 0;
      for (let i = 0; i < EXPANDS; i++) {
        await racer.swap(`${root}/rx`, `${root}/rx.lnk`);
        const code = await codeOf(call(d.controller, "ControllerExpandVolume", {
          volume_id: volume.volume_id,
          capacity_range: { required_bytes: String((i + 2) * (1 << 30)) },
          secrets: d.secrets,
        }));
        swaps += await racer.pause();
        tally(outcomes, code);
        assert(["OK", "FAILED_PRECONDITION", "NOT_FOUND"].includes(code), `attempt ${i}: ${code}`);
        await host.check(`attempt ${i} (${code})`);
      }
      console.log(
        `ControllerExpandVolume race: ${EXPANDS} attempts, ${swaps} swaps; outcomes: ${show(outcomes)}`,
      );
    } finally {
      await racer.stop();
      await d.stop();
      await host.cleanup();
    }
  },
});

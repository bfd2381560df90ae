/** The doctor's report: a text page for a person at a shell, or JSON with the same content. */
import type { Inventory } from "./inventory.ts";
import type { Problem } from "./problems.ts";

export interface Report {
  inventory: Inventory;
  problems: Problem[];
  /** With --fix: what was done, and what failed. */
  fixed?: { problem: string; subject: string; ok: boolean; error?: string }[];
}

function age(s: number | undefined): string {
  if (s === undefined) return "?";
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}

export function renderText(r: Report): string {
  const inv = r.inventory;
  const out = [`csi-jfs doctor on node ${inv.node} (kubelet ${inv.kubeletDir}, state ${inv.stateDir})`];
  if (inv.apiNote) out.push(`note: ${inv.apiNote}`);
  out.push("", `JuiceFS clients (${inv.clients.length}):`);
  for (const c of inv.clients) {
    const runner = c.backend === "process"
      ? `supervisor ${c.pid ?? "?"}${c.supervisorAlive ? "" : " (gone)"}`
      : `Mount Pod ${c.pod ? `${c.pod.namespace}/${c.pod.name}${c.pod.ready ? "" : " (not ready)"}` : "?"}`;
    out.push(
      `  ${c.fs}  key ${c.key}  ${c.backend}  ${runner}  health ${c.health}  age ${age(c.ageSeconds)}`,
    );
    for (const m of inv.mounts.filter((m) => m.client === c.key)) {
      const who = m.kind === "publish" ? `  pod ${m.pod ?? `uid ${m.podUid}`}` : "";
      out.push(`    ${m.kind.padEnd(7)} ${m.volumeHandle ?? m.root}  ${m.path}  ${m.health}${who}`);
    }
  }
  const unowned = inv.mounts.filter((m) => !m.client);
  if (unowned.length) {
    out.push("", "JuiceFS mounts from no running client:");
    for (const m of unowned) out.push(`    ${m.kind.padEnd(7)} ${m.path}  ${m.health}`);
  }
  if (inv.mountPods.length) {
    out.push("", "Mount Pods:");
    for (const p of inv.mountPods) {
      out.push(`  ${p.namespace}/${p.name}  ${p.phase}  ready=${p.ready}  restarts=${p.restarts}`);
    }
  }
  out.push("", r.problems.length ? `Problems (${r.problems.length}):` : "No problems found.");
  for (const p of r.problems) {
    out.push(
      `  [${p.id}] ${p.subject}: ${p.detail}`,
      `      fix: ${p.command}${p.fix ? "" : "  (not done by --fix)"}`,
    );
  }
  if (r.fixed) {
    out.push("", `--fix (${r.fixed.length} actions):`);
    for (const f of r.fixed) {
      out.push(`  ${f.ok ? "done" : "FAILED"} [${f.problem}] ${f.subject}${f.error ? `: ${f.error}` : ""}`);
    }
  }
  return out.join("\n");
}

export function renderJson(r: Report): string {
  return JSON.stringify(r, null, 2);
}

/** --fix: carries out exactly the FixActions of the problems listed, nothing else. */
import type { Problem } from "./problems.ts";
import type { Report } from "./report.ts";

export interface FixDeps {
  unmount(path: string, opts: { lazy: boolean }): Promise<void>;
  removeDir(path: string): Promise<void>;
}

export async function applyFixes(problems: Problem[], d: FixDeps): Promise<NonNullable<Report["fixed"]>> {
  const done: NonNullable<Report["fixed"]> = [];
  for (const p of problems) {
    if (!p.fix) continue;
    try {
      if (p.fix.kind === "unmount") await d.unmount(p.fix.path, { lazy: p.fix.lazy });
      else await d.removeDir(p.fix.path);
      done.push({ problem: p.id, subject: p.subject, ok: true });
    } catch (e) {
      done.push({ problem: p.id, subject: p.subject, ok: false, error: String((e as Error).message ?? e) });
    }
  }
  return done;
}

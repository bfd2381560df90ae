import { fileURLToPath } from "node:url";

/**
 * How to start this program again (for mount-supervisor children): the launcher sets
 * CSI_JFS_SELF; a compiled binary is its own executable; `deno run` needs main.ts.
 */
export function selfCommand(): string[] {
  const fromLauncher = Deno.env.get("CSI_JFS_SELF");
  if (fromLauncher) return [fromLauncher];
  const exe = Deno.execPath();
  if (!/\/deno$/.test(exe)) return [exe];
  return [exe, "run", "-A", fileURLToPath(new URL("../main.ts", import.meta.url))];
}

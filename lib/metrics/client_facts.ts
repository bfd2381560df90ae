/**
 * Facts about one running JuiceFS client that the node reads from the client itself: its file
 * system (from the client key), how often its supervisor restarted it (from the supervisor's
 * log), and where its own Prometheus metrics listen (from the mount's `.config`).
 */

/** The client key is "<fs name>-<12 hex digits>" (lib/clients/backend.ts clientKey). */
export function fsOfKey(key: string): string {
  return /^(.*)-[0-9a-f]{12}$/.exec(key)?.[1] ?? key;
}

/** How much of a supervisor log is read: its restart line is recent by nature. */
const TAIL_BYTES = 256 * 1024;

async function tail(path: string, bytes: number): Promise<string> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    await file.seek(Math.max(0, size - bytes), Deno.SeekMode.Start);
    const buf = new Uint8Array(Math.min(size, bytes));
    let off = 0;
    while (off < buf.length) {
      const n = await file.read(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    return new TextDecoder().decode(buf.subarray(0, off));
  } catch {
    return "";
  } finally {
    file?.close();
  }
}

/**
 * The last restart count the supervisor logged ("juicefs client 123 started for fs at /mnt
 * (restart 2, ...)"); 0 without a log or a start line.
 */
export async function supervisorRestarts(logPath: string): Promise<number> {
  const text = await tail(logPath, TAIL_BYTES);
  let last = 0;
  for (const m of text.matchAll(/juicefs client \S+ started for .*?\(restart (\d+),/g)) last = Number(m[1]);
  return last;
}

/**
 * The address of the client's own metrics: JuiceFS listens on 127.0.0.1:9567, or a free port
 * when that one is taken, and tells which in the virtual file `.config` at its mount's root.
 */
export async function clientMetricsAddress(mountPath: string): Promise<string | undefined> {
  try {
    const config = JSON.parse(await Deno.readTextFile(`${mountPath}/.config`));
    const address = config?.Port?.PrometheusAgent;
    return typeof address === "string" && address ? address : undefined;
  } catch {
    return undefined;
  }
}

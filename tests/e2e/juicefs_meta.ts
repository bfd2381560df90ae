// Reads the e2e JuiceFS file system's metadata (the sqlite3 file the Secret names) from the
// host, to see volume directories appear and disappear without mounting anything.

const META_DB = Deno.env.get("E2E_META_DB") ?? "/var/lib/csi-jfs-e2e/meta.db";

/** Names in the file system's root directory (inode 1). */
export async function rootEntries(): Promise<string[]> {
  const out = await new Deno.Command("sqlite3", {
    args: [
      "-readonly",
      "-cmd",
      ".timeout 10000",
      META_DB,
      "SELECT CAST(name AS TEXT) FROM jfs_edge WHERE parent = 1",
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) throw new Error(`sqlite3 ${META_DB}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

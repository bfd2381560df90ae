import { type CommandRunner, ExecError, runOk } from "../exec.ts";
import { failedPrecondition, unavailable } from "../errors.ts";
import type { FsSettings } from "./settings.ts";

export const JUICEFS_TIMEOUT_MS = 120_000;

export interface FsStatus {
  formatted: boolean;
  name?: string;
}

/**
 * The `juicefs` command line, for everything that works on metadata without a mount.
 * Secret-bearing values go through env; argv holds only the password-free metaurl.
 */
export class JuiceFsCli {
  constructor(private runner: CommandRunner, private binary = "juicefs") {}

  private env(s: FsSettings): Record<string, string> {
    return { ...s.secretEnv };
  }

  async status(s: FsSettings): Promise<FsStatus> {
    const r = await this.runner.run(this.binary, ["status", s.metaUrl], {
      env: this.env(s),
      timeoutMs: JUICEFS_TIMEOUT_MS,
    });
    if (r.code === 0) {
      try {
        const parsed = JSON.parse(r.stdout) as { Setting?: { Name?: string } };
        return { formatted: true, ...(parsed.Setting?.Name ? { name: parsed.Setting.Name } : {}) };
      } catch {
        throw unavailable(`juicefs status ${s.metaUrl}: unreadable output`);
      }
    }
    if (/not formatted/.test(r.stderr)) return { formatted: false };
    throw unavailable(
      `metadata engine ${s.metaUrl} is not reachable: ${
        new ExecError(this.binary, ["status", s.metaUrl], r).message
      }`,
    );
  }

  /** Formats when the metadata is empty; refuses a metaurl that holds another file system. */
  async ensureFormatted(s: FsSettings): Promise<void> {
    const st = await this.status(s);
    if (st.formatted) {
      if (st.name && st.name !== s.name) {
        throw failedPrecondition(
          `metadata engine ${s.metaUrl} holds file system "${st.name}", but the secret's name is "${s.name}"`,
        );
      }
      return;
    }
    if (!s.storage) {
      throw failedPrecondition(
        `file system "${s.name}" at ${s.metaUrl} is not formatted and the secret has no "storage" to format it with`,
      );
    }
    const args = [
      "format",
      "--storage",
      s.storage,
      ...(s.bucket ? ["--bucket", s.bucket] : []),
      ...s.formatOptions,
      s.metaUrl,
      s.name,
    ];
    await this.wrap(
      runOk(this.runner, this.binary, args, { env: this.env(s), timeoutMs: JUICEFS_TIMEOUT_MS }),
      "format",
    );
  }

  /** Sets a directory quota, creating the directory (and parents) when missing. */
  async setQuota(s: FsSettings, subdir: string, bytes: bigint | undefined): Promise<void> {
    const args = ["quota", "set", s.metaUrl, "--path", `/${subdir}`, "--create"];
    if (bytes !== undefined && bytes > 0n) args.push("--capacity", `${bytes}B`);
    await this.wrap(
      runOk(this.runner, this.binary, args, { env: this.env(s), timeoutMs: JUICEFS_TIMEOUT_MS }),
      "quota set",
    );
  }

  /**
   * Whether directory `/subdir` exists, read from the metadata engine alone (no mount, no
   * client): `quota get` resolves the path first and says which of "no such directory" or
   * "no quota" it met. A caller's wrong credentials cost one short command, not a client.
   */
  async dirExists(s: FsSettings, subdir: string): Promise<boolean> {
    const args = ["quota", "get", s.metaUrl, "--path", `/${subdir}`];
    const r = await this.runner.run(this.binary, args, { env: this.env(s), timeoutMs: JUICEFS_TIMEOUT_MS });
    if (r.code === 0 || /no quota for inode/.test(r.stderr)) return true;
    if (/resolve dir .*(no such file or directory|not a directory)|not formatted/i.test(r.stderr)) {
      return false;
    }
    throw unavailable(
      `cannot look up /${subdir} in the metadata of "${s.name}": ${
        new ExecError(this.binary, args, r).message
      }`,
    );
  }

  /** Removes a directory tree through a mount (server-side, much faster than unlinking file by file). */
  async rmr(path: string, env: Record<string, string>): Promise<void> {
    await this.wrap(runOk(this.runner, this.binary, ["rmr", path], { env, timeoutMs: 30 * 60_000 }), "rmr");
  }

  private async wrap<T>(p: Promise<T>, what: string): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof ExecError) throw unavailable(`juicefs ${what} failed: ${e.message}`);
      throw e;
    }
  }
}

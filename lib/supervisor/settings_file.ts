import type { FsSettings } from "../juicefs/settings.ts";

/** What a mount-supervisor needs, handed over in a 0600 file or env (never argv: it holds secrets). */
export interface SupervisorSettings {
  settings: FsSettings;
  mountFlags: string[];
  mountPoint: string;
  /** Format the file system first when it is not (sidecar and demo use). */
  format?: boolean;
}

export const SETTINGS_ENV = "CSI_JFS_SUPERVISOR_SETTINGS";

export async function writeSettingsFile(path: string, s: SupervisorSettings): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(s), { mode: 0o600 });
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, path);
}

/** Reads settings from the file (then removes it) or, failing that, from the env variable. */
export async function readSupervisorSettings(path: string | undefined): Promise<SupervisorSettings> {
  let text: string | undefined;
  if (path) {
    text = await Deno.readTextFile(path);
    await Deno.remove(path).catch(() => {});
  } else {
    text = Deno.env.get(SETTINGS_ENV);
    Deno.env.delete(SETTINGS_ENV);
  }
  if (!text) throw new Error(`no settings: pass --settings-file or set ${SETTINGS_ENV}`);
  const parsed = JSON.parse(text) as SupervisorSettings;
  if (!parsed.settings?.metaUrl || !parsed.mountPoint) {
    throw new Error("settings lack settings.metaUrl or mountPoint");
  }
  return parsed;
}

/**
 * GET /metrics/juicefs on the node: every running client's own Prometheus metrics (`juicefs
 * mount` serves them on loopback) gathered into one exposition, so Prometheus scrapes one
 * address per node. JuiceFS labels each series with its file system (`vol_name`) and mount
 * point (`mp`), so series of different clients never collide; families are merged so that
 * each HELP and TYPE appears once, as the text format requires.
 */
import type { ClientMount } from "../clients/backend.ts";
import { clientMetricsAddress } from "./client_facts.ts";
import type { Route } from "./server.ts";
import { logger } from "../log.ts";

const log = logger("metrics");

interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

/** Merges Prometheus text expositions: one HELP/TYPE per family, its samples from every input. */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, f = { samples: [] });
    return f;
  };
  for (const text of texts) {
    let current = "";
    for (const line of text.split("\n")) {
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (meta) {
        current = meta[2]!;
        const f = family(current);
        if (meta[1] === "HELP") f.help ??= line;
        else f.type ??= line;
        continue;
      }
      if (!line.trim() || line.startsWith("#")) continue;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? "";
      // A histogram's _bucket/_sum/_count lines belong to the family announced before them.
      family(current && name.startsWith(current) ? current : name).samples.push(line);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    out.push(...f.samples);
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** The route: each client's `.config` names its metrics address; an unreachable client is skipped. */
export function juicefsMetricsRoute(
  list: () => Promise<ClientMount[]>,
  fetchText: (url: string) => Promise<string> = fetchMetrics,
  addressOf: (mountPath: string) => Promise<string | undefined> = clientMetricsAddress,
): Route {
  return async () => {
    const texts = await Promise.all((await list()).map(async (c) => {
      const address = await addressOf(c.mountPath);
      if (!address) return "";
      try {
        return await fetchText(`http://${address}/metrics`);
      } catch (e) {
        log.warn("metrics of client {key} at {address} unreachable: {error}", {
          key: c.key,
          address,
          error: String(e),
        });
        return "";
      }
    }));
    return { body: mergeExpositions(texts), contentType: "text/plain; version=0.0.4; charset=utf-8" };
  };
}

async function fetchMetrics(url: string): Promise<string> {
  // The 0.0.4 text format, not OpenMetrics: the merged answer is served as 0.0.4.
  const res = await fetch(url, {
    headers: { accept: "text/plain; version=0.0.4" },
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return await res.text();
}

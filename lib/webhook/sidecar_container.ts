import { containerResources, mountPodSettings } from "../clients/pod_settings.ts";
import type { SidecarContainer } from "./facts.ts";

/**
 * The injected client's image, resources, cache directory and host paths from a StorageClass's
 * parameters: the same keys and validation as Mount Pods (lib/clients/pod_settings.ts).
 * INVALID_ARGUMENT names a bad key; the resolver turns it into a refusal.
 */
export function sidecarContainerFrom(params: Record<string, string>, defaultImage: string): SidecarContainer {
  const s = mountPodSettings(params);
  const resources = containerResources(s);
  return {
    image: s.image ?? defaultImage,
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(s.cacheDir ? { cacheDir: s.cacheDir } : {}),
    ...(s.hostPaths.length ? { hostPaths: s.hostPaths } : {}),
  };
}

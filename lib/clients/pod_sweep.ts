import { join } from "node:path";
import { mountAt } from "../mount/mounter.ts";
import { logger } from "../log.ts";
import { ANNOTATION_KEY, nodeSelector } from "./pod_spec.ts";
import type { PodBackend } from "./pod_backend.ts";

const log = logger("pod-sweep");

/**
 * Reaps what crashes and lost events leave (run at start and every few minutes, client by
 * client in the backend's queue, never beside an ensure or release of the same client):
 * - a Mount Pod of this node that never mounted (crash loop, bad settings) and is older than
 *   a stage's wait: deleted, with its Secret;
 * - a mounted Mount Pod: adopted (its settings read back from its Secret) so a later deletion
 *   can be repaired; idle ones are the releaser's (it releases clients no volume uses);
 * - a client directory with neither pod nor mount: removed; a dead mount with no pod and no
 *   volume: taken off;
 * - a client whose volumes are mounted but whose pod is missing (a lost DELETED event): its
 *   pod is created again.
 * Returns one line per thing done.
 */
export class PodSweeper {
  constructor(private b: PodBackend) {}

  async sweep(): Promise<string[]> {
    const o = this.b.o;
    const done: string[] = [];
    const pods = await o.kube.listPods(o.namespace, nodeSelector(o.nodeName));
    const withPod = new Set<string>();
    for (const pod of pods) {
      const key = pod.metadata?.annotations?.[ANNOTATION_KEY];
      const name = pod.metadata?.name;
      if (!key || !name) continue;
      withPod.add(key);
      const what = await this.b.queue.run(key, async () => {
        if (this.b.inflight.has(key) || this.b.releasing.has(key)) return undefined;
        if (await mountAt(o.mounter, this.b.mountPathOf(key))) {
          await this.b.adopt(pod);
          return undefined;
        }
        const created = pod.metadata?.creationTimestamp
          ? new Date(pod.metadata.creationTimestamp).getTime()
          : 0;
        if (o.now() - created < o.readyTimeoutMs) return undefined; // a stage may still wait for it
        await this.b.deleteNow(key, "it never mounted and no stage waits for it");
        return `Mount Pod ${name} never mounted; deleted`;
      }, null).catch((e) => `${name}: failed: ${e}`);
      if (what) done.push(`${key}: ${what}`);
    }
    for (const key of await this.dirs()) {
      if (withPod.has(key)) continue;
      const what = await this.b.queue.run(key, () => this.orphan(key), null).catch((e) => `failed: ${e}`);
      if (what) done.push(`${key}: ${what}`);
    }
    for (const line of done) log.info("{line}", { line });
    return done;
  }

  /** A client directory whose pod is not in the API. */
  private async orphan(key: string): Promise<string | undefined> {
    if (this.b.inflight.has(key) || this.b.releasing.has(key)) return undefined;
    const mounted = await mountAt(this.b.o.mounter, this.b.mountPathOf(key));
    if (mounted && (await this.b.inUse(key))) {
      if (this.b.clients.has(key)) {
        this.b.recreateSoon(key, 0);
        return "volumes use it but its Mount Pod is missing; creating it again";
      }
      return undefined; // nothing to create it from; kubelet's unstage will release it
    }
    await this.b.clearMount(key);
    await this.b.o.keeper.drop(key);
    this.b.clients.delete(key);
    return mounted ? "dead mount without a Mount Pod removed" : "leftover directory removed";
  }

  private async dirs(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(join(this.b.o.stateDir, "pods"))) {
        if (e.isDirectory) out.push(e.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort();
  }
}

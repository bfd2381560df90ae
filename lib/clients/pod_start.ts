import { unavailable } from "../errors.ts";
import { redact } from "../redact.ts";
import { logger } from "../log.ts";
import type { V1Pod } from "../kube/kube.ts";
import { isAlreadyExists } from "../kube/kube_errors.ts";
import { buildSettingsSecret, CONTAINER } from "./pod_spec.ts";
import { diagnosePod } from "./pod_status.ts";
import { type LogSummary, summarizeLog } from "./supervisor_log.ts";
import type { PodBackend, PodClient } from "./pod_backend.ts";

const log = logger("pod-start");

/**
 * Creates a client's Mount Pod (or adopts the one that exists), writes its Secret for that
 * pod's uid, and waits until the file system is live at the host path. A pod that does not
 * get there (stuck container, juicefs exiting, time up) fails with one redacted line, recorded
 * as an Event on the Mount Pod, and is deleted when no volume uses its mount.
 */
export class PodStarter {
  constructor(private b: PodBackend) {}

  /** In the key's queue. */
  async run(c: PodClient): Promise<void> {
    const key = c.key;
    const started = this.b.o.now();
    const deadline = started + this.b.o.readyTimeoutMs;
    let pod = await this.createOrAdopt(c, deadline);
    let secretAt = this.b.o.now();
    let logAt = -Infinity;
    let summary: LogSummary = { clientExits: 0, unreachableMeta: false, tail: "" };
    let checkedAt = this.b.o.now();
    while (true) {
      if (await this.b.mountLive(key)) {
        log.info("client {key}: Mount Pod {name} serves {path}", {
          key,
          name: c.name,
          path: this.b.mountPathOf(key),
        });
        return;
      }
      const now = this.b.o.now();
      if (now - checkedAt >= 2_000 || !this.b.pods.has(c.name)) {
        // The watch keeps the cache fresh; a read now and then covers a watch that is down.
        const fresh = await this.b.o.kube.getPod(this.b.o.namespace, c.name).catch(() =>
          this.b.pods.get(c.name)
        );
        checkedAt = now;
        if (fresh) this.b.remember(fresh);
        else this.b.pods.delete(c.name);
      }
      pod = this.b.pods.get(c.name);
      if (!pod && now < deadline) {
        log.warn("client {key}: Mount Pod {name} went away while starting; creating it again", {
          key: c.key,
          name: c.name,
        });
        pod = await this.createOrAdopt(c, deadline);
        secretAt = this.b.o.now();
      }
      const d = diagnosePod(pod, now - secretAt >= this.b.o.configErrorGraceMs);
      if ((d.running || d.stuck || now >= deadline) && now - logAt >= 2_000) {
        logAt = now;
        summary = summarizeLog(
          await this.b.o.kube.podLogTail(this.b.o.namespace, c.name, CONTAINER, 50).catch(() => ""),
        );
      }
      let why: string | undefined;
      if (d.stuck) why = "";
      else if (summary.clientExits >= this.b.o.maxStartFailures) {
        why = ` (juicefs exited ${summary.clientExits} times without mounting)`;
      } else if (summary.unreachableMeta) why = " (juicefs cannot reach its metadata engine)";
      else if (now >= deadline) why = ` within ${Math.round(this.b.o.readyTimeoutMs / 1000)}s`;
      if (why !== undefined) {
        const line = redact(
          `Mount Pod ${this.b.o.namespace}/${c.name} for file system "${c.fsName}" did not mount${why}: ${d.state}` +
            (summary.tail ? `; log: ${summary.tail}` : ""),
        );
        await this.failed(c, pod, line);
        throw unavailable(line);
      }
      await this.b.o.sleep(this.b.o.pollMs);
    }
  }

  /** Tells the Mount Pod's Event list, and takes a pod that serves no volume away (no crash loop). */
  private async failed(c: PodClient, pod: V1Pod | undefined, line: string): Promise<void> {
    log.warn("client {key}: {line}", { key: c.key, line });
    if (pod?.metadata?.name) {
      await this.b.o.events?.record(
        {
          kind: "Pod",
          namespace: this.b.o.namespace,
          name: pod.metadata.name,
          ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}),
        },
        "Warning",
        "MountFailed",
        line,
      );
    }
    if (!(await this.b.inUse(c.key))) {
      await this.b.deleteNow(c.key, "it did not mount").catch((e) =>
        log.warn("client {key}: deleting the failed Mount Pod: {e}", { key: c.key, e: String(e) })
      );
    }
  }

  /** The pod of `c` (created, or the existing one), with its Secret written for its uid. */
  private async createOrAdopt(c: PodClient, deadline: number): Promise<V1Pod | undefined> {
    const ns = this.b.o.namespace;
    for (let attempt = 0;; attempt++) {
      let pod = await this.b.o.kube.getPod(ns, c.name);
      if (pod?.metadata?.deletionTimestamp) {
        // The old incarnation is still stopping: its name is not free yet.
        if (this.b.o.now() >= deadline) return pod;
        await this.b.o.sleep(this.b.o.pollMs);
        continue;
      }
      if (!pod) {
        try {
          pod = await this.b.o.kube.createPod(ns, c.template);
          log.info("client {key}: created Mount Pod {name}", { key: c.key, name: c.name });
        } catch (e) {
          if (!isAlreadyExists(e) || attempt > 20) throw e;
          continue; // created meanwhile (another node plugin instance): adopt it
        }
      }
      this.b.remember(pod);
      const uid = pod.metadata?.uid;
      if (uid) {
        await this.b.o.kube.applySecret(
          ns,
          buildSettingsSecret({ namespace: this.b.o.namespace, node: this.b.o.nodeName, key: c.key }, {
            name: c.name,
            uid,
          }, c.settingsText),
        );
      }
      return pod;
    }
  }
}

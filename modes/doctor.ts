import { type Config, UsageError } from "../lib/config.ts";
import { messageOf } from "../lib/errors.ts";
import { DenoCommandRunner } from "../lib/exec.ts";
import { ExecMounter } from "../lib/mount/mounter.ts";
import { probeStatfs } from "../lib/mount/stat_probe.ts";
import { SystemProcessTable } from "../lib/clients/process_table.ts";
import { CoreV1Api } from "@kubernetes/client-node";
import { loadKubeConfig, RealKube } from "../lib/kube/real_kube.ts";
import { nodeSelector } from "../lib/clients/pod_spec.ts";
import { type InventoryDeps, takeInventory } from "../lib/doctor/inventory.ts";
import { diagnose } from "../lib/doctor/problems.ts";
import { applyFixes } from "../lib/doctor/fix.ts";
import { renderJson, renderText, type Report } from "../lib/doctor/report.ts";

/**
 * `csi-jfs --mode=doctor`: a one-shot report for a person on a node (or `kubectl exec` into the
 * node plugin). A mode of its own rather than `--mode=node --doctor`: its flags (--output, --fix,
 * --kubelet-dir) are not a serving node's, and `--help --mode=doctor` lists only them.
 * Exit 0: no problem; 1: problems (after --fix, the ones left).
 */
export async function runDoctor(config: Config): Promise<number> {
  const mounter = new ExecMounter(new DenoCommandRunner());
  const processes = new SystemProcessTable();
  const namespace = config.namespace ?? Deno.env.get("POD_NAMESPACE");
  const useApi = config.kubeconfig || Deno.env.get("KUBERNETES_SERVICE_HOST");
  let kc: ReturnType<typeof loadKubeConfig> | undefined;
  try {
    kc = useApi ? loadKubeConfig(config.kubeconfig) : undefined;
  } catch (e) {
    throw new UsageError(`--mode=doctor: ${messageOf(e)}`);
  }
  const kube = kc && new RealKube(kc);
  const deps: InventoryDeps = {
    node: config.nodeId,
    kubeletDir: config.kubeletDir,
    stateDir: config.stateDir,
    listMounts: () => mounter.list(),
    health: async (p) => {
      const health = await mounter.health(p);
      if (health !== "ok") return health;
      // The kernel may answer stat of a mount root from its attribute cache for a moment after
      // the client died; statfs always asks the client.
      const fs = await probeStatfs(p).catch(() => undefined);
      return typeof fs === "string" ? fs : health;
    },
    readDirs: async (path) => {
      const out: string[] = [];
      try {
        for await (const e of Deno.readDir(path)) if (e.isDirectory) out.push(e.name);
      } catch { /* missing: none */ }
      return out.sort();
    },
    readText: (path) => Deno.readTextFile(path).catch(() => undefined),
    ageOf: async (path) => {
      const m = (await Deno.stat(path).catch(() => undefined))?.mtime;
      return m ? (Date.now() - m.getTime()) / 1000 : undefined;
    },
    isSupervisor: (pid, mountPath) => processes.isSupervisor(pid, mountPath),
    ...(kube
      ? {
        api: {
          mountPods: () =>
            namespace ? kube.listPods(namespace, nodeSelector(config.nodeId)) : Promise.resolve([]),
          // The pods of this node, to name the pod behind each target (needs list on pods cluster-wide).
          podsByUid: async () => {
            const list = await kc!.makeApiClient(CoreV1Api).listPodForAllNamespaces({
              fieldSelector: `spec.nodeName=${config.nodeId}`,
            });
            return new Map(
              list.items.map((p) => [p.metadata?.uid ?? "", `${p.metadata?.namespace}/${p.metadata?.name}`]),
            );
          },
        },
      }
      : {}),
  };
  let report: Report = { inventory: await takeInventory(deps), problems: [] };
  report.problems = diagnose(report.inventory);
  if (config.fix && report.problems.some((p) => p.fix)) {
    const fixed = await applyFixes(report.problems, {
      unmount: (path, opts) => mounter.unmount(path, opts),
      removeDir: (path) => Deno.remove(path, { recursive: true }),
    });
    // The report after the fixes: what is left is what the exit code tells.
    const inventory = await takeInventory(deps);
    report = { inventory, problems: diagnose(inventory), fixed };
  }
  console.log(config.output === "json" ? renderJson(report) : renderText(report));
  return report.problems.length ? 1 : 0;
}

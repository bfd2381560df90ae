/**
 * From an inventory to the problems an operator must act on, each with the command that fixes
 * it. `fix` says what --fix would do about it (only local, reversible-by-kubelet steps: take
 * a dead mount off, remove a dead client's leftover directory); anything touching a workload
 * (restarting an app pod, deleting a Mount Pod) is printed for a person to decide.
 */
import type { Inventory } from "./inventory.ts";

export type FixAction = { kind: "unmount"; path: string; lazy: boolean } | {
  kind: "remove-dir";
  path: string;
};

export interface Problem {
  /** A stable name for tools: client-broken, client-leftover, mount-broken, ... */
  id: string;
  subject: string;
  detail: string;
  /** The command (shell) that fixes it. */
  command: string;
  /** What --fix does; absent: --fix leaves it to a person. */
  fix?: FixAction;
}

const q = (s: string): string => /^[A-Za-z0-9_./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;

function podAdvice(pod: string | undefined, uid: string | undefined): string {
  if (pod) {
    const [ns, name] = pod.split("/");
    return `kubectl -n ${q(ns ?? "")} delete pod ${q(name ?? "")}`;
  }
  return `kubectl get pods -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep ${
    q(uid ?? "?")
  }  # then delete that pod`;
}

export function diagnose(inv: Inventory): Problem[] {
  const out: Problem[] = [];
  for (const c of inv.clients) {
    const who = `client ${c.key} (file system ${c.fs})`;
    if (c.health === "unmounted") {
      if (c.backend === "process" && !c.supervisorAlive) {
        out.push({
          id: "client-leftover",
          subject: who,
          detail: `${c.dir} is left from a client that is gone (no mount, no supervisor)`,
          command: `rm -rf ${q(c.dir)}`,
          fix: { kind: "remove-dir", path: c.dir },
        });
      }
      continue;
    }
    if (c.health === "ok") {
      if (c.backend === "process" && !c.supervisorAlive) {
        out.push({
          id: "client-unsupervised",
          subject: who,
          detail: `mounted at ${c.mountPath} but its supervisor${
            c.pid ? ` (pid ${c.pid})` : ""
          } is gone: nothing restarts it if it dies; the node plugin starts a new one once its volumes are unstaged`,
          command: `grep ${q(c.mountPath)} /proc/self/mountinfo  # drain the volumes, then: umount ${
            q(c.mountPath)
          }`,
        });
      }
      continue;
    }
    const alive = c.backend === "process" ? c.supervisorAlive : c.pod?.ready;
    if (c.health === "hung") {
      out.push({
        id: "client-hung",
        subject: who,
        detail: `${c.mountPath} does not answer (stopped or overloaded)`,
        command: c.pid
          ? `kill -CONT ${c.pid}; cat ${q(`${c.dir}/supervisor.log`)} | tail`
          : `umount -l ${q(c.mountPath)}`,
      });
      continue;
    }
    out.push({
      id: "client-broken",
      subject: who,
      detail: `${c.mountPath} is a dead JuiceFS mount (${c.health})${
        alive
          ? "; its supervisor is restarting it"
          : c.backend === "process"
          ? "; its supervisor is gone"
          : ""
      }`,
      command: `umount -l ${q(c.mountPath)}`,
      ...(alive ? {} : { fix: { kind: "unmount", path: c.mountPath, lazy: true } as const }),
    });
  }
  for (const p of inv.mountPods) {
    if (p.ready) continue;
    out.push({
      id: "mount-pod-not-ready",
      subject: `Mount Pod ${p.namespace}/${p.name}`,
      detail: `phase ${p.phase}${p.reason ? `, ${p.reason}` : ""}, ${p.restarts} restarts`,
      command: `kubectl -n ${q(p.namespace)} logs ${q(p.name)} --all-containers --tail=50; kubectl -n ${
        q(p.namespace)
      } delete pod ${q(p.name)}  # the node plugin creates it again`,
    });
  }
  for (const m of inv.mounts) {
    const vol = m.volumeHandle ? `volume ${m.volumeHandle}` : `mount`;
    if (m.health !== "ok") {
      out.push({
        id: "mount-broken",
        subject: `${m.kind} ${m.path}`,
        detail: `${vol} at ${m.path} is dead (${m.health})${
          m.kind === "publish" ? "; the pod using it must be restarted to get it back" : ""
        }`,
        command: `umount -l ${q(m.path)}${m.kind === "publish" ? `; ${podAdvice(m.pod, m.podUid)}` : ""}`,
        fix: { kind: "unmount", path: m.path, lazy: true },
      });
      continue;
    }
    if (m.kind === "stray") {
      out.push({
        id: "mount-orphaned",
        subject: `bind ${m.path}`,
        detail: `a bind of client ${m.client} outside the kubelet's volume layout: nothing will unmount it`,
        command: `umount ${q(m.path)}`,
        fix: { kind: "unmount", path: m.path, lazy: false },
      });
    } else if (!m.client) {
      out.push({
        id: "mount-orphaned",
        subject: `${m.kind} ${m.path}`,
        detail: `${vol} is bound from a JuiceFS client csi-jfs does not run any more`,
        command: `umount ${q(m.path)}`,
        fix: { kind: "unmount", path: m.path, lazy: false },
      });
    } else if (m.kind === "publish" && !m.staged) {
      out.push({
        id: "publish-without-staging",
        subject: `publish ${m.path}`,
        detail: `${vol} is published for pod ${
          m.pod ?? m.podUid
        } but no longer staged: the next publish of it will fail until kubelet stages it again`,
        command: podAdvice(m.pod, m.podUid),
      });
    }
  }
  return out;
}

// No secret value reaches what others can read: pod specs and events of every namespace, the
// driver's and Mount Pods' logs, and the command line of any process on the node. Every secret
// value the suite makes (here, and the wrong metaurl's password in mount_pod_sharing_test.ts)
// carries one mark per run, and the mark is looked for everywhere.
import { assertEquals } from "../../lib/testing/assert.ts";
import { apply, events, exec, getJson, kubectl, type Obj, pvc, startPod, waitFor } from "./kube.ts";
import {
  appPod,
  DRIVER_NS,
  e2eFs,
  fsSecret,
  IDLE,
  SECRET_MARK_RE,
  secretValue,
  storageClass,
} from "./mount_pods.ts";

const NS = "csi-jfs-e2e";
const ignore = Deno.env.get("E2E_DRIVER_DEPLOYED") !== "1";

/** Where in `text` the mark occurs, as short excerpts. */
function hits(what: string, text: string): string[] {
  const out: string[] = [];
  const re = new RegExp(SECRET_MARK_RE.source, "g");
  for (const m of text.matchAll(re)) {
    out.push(`${what}: …${text.slice(Math.max(0, m.index - 80), m.index).replaceAll("\n", " ")}<SECRET>…`);
  }
  return out;
}

async function argvHits(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const argv = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    out.push(...hits(`argv of pid ${e.name}`, argv.replaceAll("\0", " ")));
  }
  return out;
}

Deno.test({
  name: "no secret value in pods, events, the driver's logs or any process's argv",
  ignore,
  fn: async () => {
    try {
      // A file system of its own whose Secret holds every kind of secret value, mounted by a pod.
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      await apply(fsSecret("juicefs-e2e-marked", {
        ...e2eFs("marked"),
        "access-key": secretValue("access-key"),
        "secret-key": secretValue("secret-key"),
        envs: JSON.stringify({ E2E_SECRET_ENV: secretValue("env") }),
      }));
      await apply(storageClass("e2e-marked", { secret: "juicefs-e2e-marked" }));
      await apply(pvc(NS, "marked", "1Gi", "e2e-marked"));
      await waitFor("claim marked to bind", async () => {
        const c = await getJson(["-n", NS, "get", "pvc", "marked"]);
        return c.status?.phase === "Bound" ? true : undefined;
      }, 180_000);
      await startPod(appPod(NS, "marked-app", ["marked"], IDLE));
      assertEquals(
        (await exec(NS, "marked-app", ["sh", "-c", "echo x > /data/x && cat /data/x"])).trim(),
        "x",
      );

      const found: string[] = [];
      found.push(
        ...hits("kubectl get pods,events -A", await kubectl(["get", "pods,events", "-A", "-o", "yaml"])),
      );
      const pods = (await getJson(["-n", DRIVER_NS, "get", "pods"])).items as Obj[];
      for (const p of pods) {
        const name = p.metadata.name;
        const logs = await kubectl(["-n", DRIVER_NS, "logs", name, "--all-containers"]).catch((e) => `${e}`);
        found.push(...hits(`logs of ${DRIVER_NS}/${name}`, logs));
      }
      found.push(...await argvHits());
      console.log(
        `looked in pods and events of all namespaces, logs of ${pods.length} pods in ${DRIVER_NS}, and argv`,
      );
      assertEquals(found, [], "secret values found");
    } catch (e) {
      console.error(`events in ${NS}:\n${await events(NS)}`);
      throw e;
    } finally {
      await kubectl([
        "-n",
        NS,
        "delete",
        "pod",
        "marked-app",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
      ]);
      await kubectl(["-n", NS, "delete", "pvc", "marked", "--ignore-not-found", "--timeout=180s"]);
    }
  },
});

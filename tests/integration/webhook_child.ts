// The sidecar injector as its own process (so webhook_test.ts can watch its RSS and see that it
// never dies), wired exactly as `--mode=sidecar-injector` but over an in-memory API: its
// certificate Secret, caBundle and the PVCs of the tests live in a FakeInjectorKube.
// Usage: webhook_child.ts PORT CA_FILE. Writes the caBundle it published to CA_FILE once serving.
import { parseConfig } from "../../lib/config.ts";
import { setupLogging } from "../../lib/log.ts";
import { FakeInjectorKube } from "../../lib/webhook/fake_kube.ts";
import { runSidecarInjector } from "../../modes/sidecar_injector.ts";

const [port, caFile] = Deno.args;
if (!port || !caFile) {
  console.error("usage: webhook_child.ts PORT CA_FILE");
  Deno.exit(2);
}
await setupLogging("text", "warning");
const kube = new FakeInjectorKube();
kube.addBoundClaim("app", "data");
kube.addBoundClaim("app", "shared", { accessModes: ["ReadOnlyMany"] });
kube.addBoundClaim("app", "ebs", { driver: "ebs.csi.aws.com" });
const parsed = parseConfig([
  "--mode=sidecar-injector",
  `--listen=127.0.0.1:${port}`,
  "--namespace=csi-jfs",
  "--sidecar-image=csi-jfs:test",
]);
if (parsed.kind !== "run") Deno.exit(2);
const stop = new Promise((resolve) => Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM")));
const done = runSidecarInjector(parsed.config, {
  kube,
  sidecarImage: () => Promise.resolve("csi-jfs:test"),
  stopSignal: stop,
});
// The caBundle is written after the listener is up: from then on the webhook answers.
while (!kube.caBundles.has("csi-jfs-sidecar-injector")) await new Promise((r) => setTimeout(r, 20));
await Deno.writeTextFile(caFile, kube.caBundles.get("csi-jfs-sidecar-injector") ?? "");
Deno.exit(await done);

import { assertEquals } from "../testing/assert.ts";
import { IdentityService } from "./identity.ts";

Deno.test("Probe is not ready until the check passes, then stays ready", async () => {
  const answers = ["juicefs: command not found", undefined, "would not be asked"];
  const id = new IdentityService("jfs.csi.dev", () => Promise.resolve(answers.shift()));
  assertEquals(await id.Probe(), { ready: { value: false } });
  assertEquals(await id.Probe(), { ready: { value: true } });
  assertEquals(await id.Probe(), { ready: { value: true } });
  assertEquals(answers.length, 1);
});

Deno.test("GetPluginCapabilities names the controller service and online expansion", async () => {
  const caps =
    (await new IdentityService("x.y", () => Promise.resolve(undefined)).GetPluginCapabilities()).capabilities;
  assertEquals(caps?.map((c) => c.service?.type ?? `expansion:${c.volume_expansion?.type}`), [
    "CONTROLLER_SERVICE",
    "expansion:ONLINE",
  ]);
});

import { assertEquals } from "../testing/assert.ts";
import { IdentityService } from "./identity.ts";

Deno.test("Probe is not ready until the check passes, then stays ready", async () => {
  const answers = ["juicefs: command not found", undefined, "would not be asked"];
  const id = new IdentityService("jfs.csi.dev", true, () => Promise.resolve(answers.shift()));
  assertEquals(await id.Probe(), { ready: { value: false } });
  assertEquals(await id.Probe(), { ready: { value: true } });
  assertEquals(await id.Probe(), { ready: { value: true } });
  assertEquals(answers.length, 1);
});

Deno.test("GetPluginCapabilities names the controller service only where it is served", async () => {
  const types = async (withController: boolean) =>
    (await new IdentityService("x.y", withController, () => Promise.resolve(undefined))
      .GetPluginCapabilities())
      .capabilities?.map((c) => c.service?.type ?? `expansion:${c.volume_expansion?.type}`);
  assertEquals(await types(true), ["CONTROLLER_SERVICE", "expansion:ONLINE"]);
  assertEquals(await types(false), ["expansion:ONLINE"]);
});

import { assertEquals } from "../testing/assert.ts";
import { createBundle } from "./certs.ts";
import { MUTATE_PATH, WebhookServer } from "./server.ts";

const names = { dnsNames: ["localhost"], ips: ["127.0.0.1"] };

async function call(port: number, caCert: string, init: RequestInit = {}, path = MUTATE_PATH) {
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  try {
    const r = await fetch(`https://127.0.0.1:${port}${path}`, { ...init, client });
    return { status: r.status, body: await r.text() };
  } finally {
    client.close();
  }
}

Deno.test("server: HTTPS with our CA, HTTP errors for what is not a review, reload without restart", async () => {
  const a = await createBundle(names, new Date());
  const b = await createBundle(names, new Date());
  const server = new WebhookServer({
    hostname: "127.0.0.1",
    port: 0,
    maxBodyBytes: 1024,
    handle: (body) => Promise.resolve({ status: 200, body: JSON.stringify({ got: body.length }) }),
  });
  await server.start(a.cert, a.key);
  const { port } = server.address;
  try {
    const post = (body: string, type = "application/json") => ({
      method: "POST",
      body,
      headers: { "content-type": type },
    });
    assertEquals(await call(port, a.caCert, post("{}")), { status: 200, body: '{"got":2}' });
    assertEquals((await call(port, a.caCert, post("x".repeat(2000)))).status, 413);
    assertEquals((await call(port, a.caCert, post("{}", "text/plain"))).status, 415);
    assertEquals((await call(port, a.caCert, { method: "GET" })).status, 405);
    assertEquals((await call(port, a.caCert, {}, "/nope")).status, 404);
    assertEquals((await call(port, a.caCert, {}, "/healthz")).status, 200);
    const bad = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    assertEquals(
      (await call(port, a.caCert, {
        method: "POST",
        body: bad,
        headers: { "content-type": "application/json" },
      })).status,
      400,
    );
    server.reload(b.cert, b.key);
    assertEquals(server.address.port, port, "same port after the reload");
    assertEquals((await call(port, b.caCert, post("{}"))).status, 200, "the new certificate is served");
    let oldTrusted = true;
    await call(port, a.caCert, post("{}")).catch(() => (oldTrusted = false));
    assertEquals(oldTrusted, false, "the old certificate is gone");
  } finally {
    await server.close();
  }
});

// The real client library on this Deno, against a small stand-in for the API server on
// 127.0.0.1 (plain HTTP): requests, error mapping, merge patch, logs and the watch stream.
import { assert, assertCodedError, assertEquals } from "../testing/assert.ts";
import { Code } from "../errors.ts";
import { KubeConfig } from "@kubernetes/client-node";
import { RealKube } from "./real_kube.ts";
import type { PodEvent } from "./kube.ts";

function stubApi(): { url: string; seen: string[]; close: () => Promise<void> } {
  const seen: string[] = [];
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : "";
    seen.push(
      `${req.method} ${u.pathname}${u.search} ${req.headers.get("content-type") ?? ""} ${body}`.trim(),
    );
    if (u.searchParams.get("watch") === "true") {
      const enc = new TextEncoder();
      const lines = [
        { type: "ADDED", object: { metadata: { name: "w", uid: "9", resourceVersion: "6" } } },
        { type: "DELETED", object: { metadata: { name: "w", uid: "9", resourceVersion: "7" } } },
      ];
      return new Response(
        new ReadableStream({
          start(c) {
            for (const l of lines) c.enqueue(enc.encode(JSON.stringify(l) + "\n"));
          },
        }),
        { headers: { "content-type": "application/json" } },
      );
    }
    if (u.pathname === "/api/v1/namespaces/ns/pods" && req.method === "GET") {
      return json(200, { kind: "PodList", metadata: { resourceVersion: "5" }, items: [] });
    }
    if (u.pathname === "/api/v1/namespaces/ns/pods" && req.method === "POST") {
      const name = JSON.parse(body).metadata.name;
      if (name === "dup") {
        return json(409, { kind: "Status", reason: "AlreadyExists", message: `pods "dup" already exists` });
      }
      return json(201, { metadata: { name, uid: "u1" } });
    }
    if (u.pathname === "/api/v1/namespaces/ns/pods/gone") {
      return json(404, { kind: "Status", reason: "NotFound", message: `pods "gone" not found` });
    }
    if (u.pathname === "/api/v1/namespaces/ns/pods/p" && req.method === "PATCH") return json(200, {});
    if (u.pathname === "/api/v1/namespaces/ns/pods/p/log") return new Response("l1\nl2\n");
    if (u.pathname === "/version") return json(200, { gitVersion: "v1.34.4", major: "1", minor: "34" });
    return json(500, { kind: "Status", message: "unexpected" });
  });
  const addr = server.addr as Deno.NetAddr;
  return { url: `http://127.0.0.1:${addr.port}`, seen, close: () => server.shutdown() };
}

function kubeAt(url: string): RealKube {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: url, skipTLSVerify: true }],
    users: [{ name: "u", token: "t0ken-value" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return new RealKube(kc);
}

Deno.test("real kube: calls, error codes, patch, log and watch work on this Deno", async () => {
  const api = stubApi();
  try {
    const kube = kubeAt(api.url);
    const made = await kube.createPod("ns", { metadata: { name: "p" }, spec: { containers: [] } });
    assertEquals(made.metadata?.uid, "u1");
    await assertCodedError(
      () => kube.createPod("ns", { metadata: { name: "dup" }, spec: { containers: [] } }),
      Code.ALREADY_EXISTS,
      /create pod ns\/dup: pods "dup" already exists \(HTTP 409\)/,
    );
    assertEquals(await kube.getPod("ns", "gone"), undefined);
    await kube.deletePod("ns", "gone");
    await kube.patchPodAnnotations("ns", "p", { "a/b": "c", "d/e": null });
    assert(api.seen.some((l) => l.includes("application/merge-patch+json") && l.includes('"d/e":null')));
    assertEquals(await kube.podLogTail("ns", "p", "c", 10), "l1\nl2\n");
    assertEquals(await kube.serverVersion(), "v1.34.4");
    const events: string[] = [];
    const w = kube.watchPods("ns", "a=b", (e: PodEvent) => events.push(`${e.type} ${e.pod.metadata?.name}`));
    for (let i = 0; i < 2000 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    w.stop();
    assertEquals(events.slice(0, 2), ["ADDED w", "DELETED w"]);
    assert(api.seen.some((l) => l.includes("watch=true") && l.includes("labelSelector=a%3Db")));
  } finally {
    await api.close();
  }
});

Deno.test("real kube: an unreachable API server is UNAVAILABLE", async () => {
  const kube = kubeAt("http://127.0.0.1:1");
  await assertCodedError(() => kube.getPod("ns", "x"), Code.UNAVAILABLE, /not reachable/);
});

/** A CA and a server certificate for 127.0.0.1, made with openssl (the in-cluster path is TLS). */
async function makeCerts(dir: string): Promise<boolean> {
  const sh = async (args: string[]) =>
    (await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "null" }).output()).success;
  try {
    await Deno.writeTextFile(`${dir}/ext`, "subjectAltName=IP:127.0.0.1\n");
    return await sh([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=ca",
    ]) &&
      await sh([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
      ]) &&
      await sh([
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "1",
        "-extfile",
        "ext",
      ]);
  } catch {
    return false; // no openssl
  }
}

Deno.test("real kube: TLS with the cluster's CA and a bearer token, as in a pod; another CA is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "real_kube_tls" });
  try {
    if (!(await makeCerts(dir))) {
      console.warn("openssl not available: TLS case skipped");
      return;
    }
    const auth: string[] = [];
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(`${dir}/srv.crt`),
      key: await Deno.readTextFile(`${dir}/srv.key`),
      onListen: () => {},
    }, (req) => {
      auth.push(req.headers.get("authorization") ?? "");
      return new Response(JSON.stringify({ metadata: { name: "p", uid: "u" } }), {
        headers: { "content-type": "application/json" },
      });
    });
    try {
      const port = (server.addr as Deno.NetAddr).port;
      const kubeWithCa = (ca: string) => {
        const kc = new KubeConfig();
        kc.loadFromOptions({
          clusters: [{
            name: "c",
            server: `https://127.0.0.1:${port}`,
            caData: btoa(ca),
            skipTLSVerify: false,
          }],
          users: [{ name: "u", token: "sa-token-1234" }],
          contexts: [{ name: "x", cluster: "c", user: "u" }],
          currentContext: "x",
        });
        return new RealKube(kc);
      };
      const pod = await kubeWithCa(await Deno.readTextFile(`${dir}/ca.crt`)).getPod("ns", "p");
      assertEquals(pod?.metadata?.uid, "u");
      assertEquals(auth, ["Bearer sa-token-1234"]);
      // The server's own certificate is no CA of it: the connection is refused, nothing is sent.
      await assertCodedError(
        () => kubeWithCa(Deno.readTextFileSync(`${dir}/srv.crt`)).getPod("ns", "p"),
        Code.UNAVAILABLE,
        /not reachable/,
      );
      assertEquals(auth.length, 1);
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

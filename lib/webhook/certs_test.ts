import { assert, assertEquals } from "../testing/assert.ts";
import { alreadyExists } from "../errors.ts";
import { caBundleOf, certFacts, createBundle, renewalNeeded, signedBy } from "./certs.ts";
import { CertStore } from "./cert_store.ts";
import { FakeInjectorKube } from "./fake_kube.ts";

const names = { dnsNames: ["inj", "inj.csi-jfs", "inj.csi-jfs.svc"], ips: ["127.0.0.1"] };
const DAY = 86_400_000;

Deno.test("certs: a bundle has the service names and 127.0.0.1, signed by its CA", async () => {
  const now = new Date();
  const b = await createBundle(names, now);
  const f = certFacts(b.cert);
  assertEquals(f.dnsNames, names.dnsNames);
  assertEquals(f.ips, ["127.0.0.1"]);
  assert(await signedBy(b.cert, b.caCert));
  assertEquals(await renewalNeeded(b, names, now), "none");
  assertEquals(await renewalNeeded(b, { ...names, dnsNames: ["other"] }, now), "serving");
  assertEquals(await renewalNeeded(b, names, new Date(now.getTime() + 300 * DAY)), "serving");
  assertEquals(await renewalNeeded(b, names, new Date(now.getTime() + 3000 * DAY)), "all");
  assertEquals(await renewalNeeded({ ...b, caKey: "junk" }, names, now), "all");
  const other = await createBundle(names, now);
  assertEquals(await renewalNeeded({ ...b, cert: other.cert }, names, now), "serving", "cert of another CA");
});

Deno.test("cert store: create-or-get, the same bundle on restart, renewal keeps the CA", async () => {
  const kube = new FakeInjectorKube();
  let now = new Date();
  const store = () => new CertStore(kube, { namespace: "csi-jfs", secretName: "tls", names, now: () => now });
  const first = await store().ensure();
  const again = await store().ensure();
  assertEquals(again, first, "a restart reads the stored bundle");
  assertEquals(kube.writes, 1);
  now = new Date(now.getTime() + 300 * DAY);
  const renewed = await store().ensure();
  assertEquals(renewed.caCert, first.caCert, "the CA (and so the caBundle) stays");
  assert(renewed.cert !== first.cert);
  assert(await signedBy(renewed.cert, first.caCert));
  assertEquals(kube.writes, 2);
});

Deno.test("cert store: the replica that loses the creation race uses the winner's bundle", async () => {
  const kube = new FakeInjectorKube();
  const winner = await new CertStore(kube, { namespace: "csi-jfs", secretName: "tls", names }).ensure();
  const stored = kube.secrets.get("csi-jfs/tls");
  kube.secrets.delete("csi-jfs/tls");
  // The loser saw no Secret, then the winner's create landed just before its own.
  kube.beforeSecretWrite = () => {
    if (stored && !kube.secrets.has("csi-jfs/tls")) {
      kube.secrets.set("csi-jfs/tls", stored);
      kube.failNext.set("createSecret", alreadyExists("exists"));
    }
  };
  const loser = await new CertStore(kube, { namespace: "csi-jfs", secretName: "tls", names }).ensure();
  assertEquals(loser, winner);
});

Deno.test("cert store: a new CA keeps the old one in the caBundle until it expires", async () => {
  const kube = new FakeInjectorKube();
  let now = new Date();
  const store = () => new CertStore(kube, { namespace: "csi-jfs", secretName: "tls", names, now: () => now });
  const first = await store().ensure();
  assertEquals(caBundleOf(first, now), first.caCert);
  now = new Date(now.getTime() + 3000 * DAY);
  const rotated = await store().ensure();
  assert(rotated.caCert !== first.caCert);
  assertEquals(rotated.previousCaCert, first.caCert);
  assertEquals((await store().ensure()).previousCaCert, first.caCert, "stored with the bundle");
  const bundle = caBundleOf(rotated, now);
  assert(bundle.includes(rotated.caCert.trim()) && bundle.includes(first.caCert.trim()));
  assertEquals(
    caBundleOf(rotated, new Date(now.getTime() + 1000 * DAY)),
    rotated.caCert,
    "the old CA expired",
  );
});

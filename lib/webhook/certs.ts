// X.509 comes from @peculiar/x509 over Web Crypto; its dependency tsyringe needs the Reflect
// metadata polyfill loaded first (this import runs before the next one).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** The injector's own CA and the serving certificate it issued, all PEM. */
export interface CertBundle {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  /** The CA this one replaced, still trusted (in the caBundle) until it expires. */
  previousCaCert?: string;
}

/** What the webhook configuration trusts: the CA, and during a CA change the one before. */
export function caBundleOf(b: CertBundle, now: Date): string {
  const prev = b.previousCaCert;
  const keep = prev && (() => {
    try {
      return certFacts(prev).notAfter.getTime() > now.getTime();
    } catch {
      return false;
    }
  })();
  return keep ? `${b.caCert.trim()}\n${prev.trim()}\n` : b.caCert;
}

export interface ServingNames {
  dnsNames: string[];
  ips: string[];
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
export const CA_VALIDITY_MS = 3650 * DAY;
export const SERVING_VALIDITY_MS = 365 * DAY;

function serial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error("no PEM block in the private key");
  return await crypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]);
}

export async function createCa(
  now: Date,
  name = "csi-jfs sidecar injector CA",
): Promise<{ cert: string; key: string }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await exportKey(keys.privateKey) };
}

export async function issueServing(
  ca: { cert: string; key: string },
  names: ServingNames,
  now: Date,
  validityMs = SERVING_VALIDITY_MS,
): Promise<{ cert: string; key: string }> {
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.dnsNames[0] ?? names.ips[0] ?? "csi-jfs-sidecar-injector"}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(Math.min(now.getTime() + validityMs, caCert.notAfter.getTime())),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.key),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...names.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString("pem"), key: await exportKey(keys.privateKey) };
}

export async function createBundle(names: ServingNames, now: Date): Promise<CertBundle> {
  const ca = await createCa(now);
  const serving = await issueServing(ca, names, now);
  return { caCert: ca.cert, caKey: ca.key, cert: serving.cert, key: serving.key };
}

export interface CertFacts {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ips: string[];
  issuer: string;
}

export function certFacts(pem: string): CertFacts {
  const c = new x509.X509Certificate(pem);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const all = san?.names.items ?? [];
  return {
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    dnsNames: all.filter((n) => n.type === "dns").map((n) => n.value),
    ips: all.filter((n) => n.type === "ip").map((n) => n.value),
    issuer: c.issuer,
  };
}

/** Whether `cert` was signed by `caCert` (a renewed CA invalidates serving certs of the old one). */
export async function signedBy(cert: string, caCert: string): Promise<boolean> {
  try {
    return await new x509.X509Certificate(cert).verify({
      publicKey: new x509.X509Certificate(caCert),
      signatureOnly: true,
    });
  } catch {
    return false;
  }
}

/**
 * What a stored bundle needs: nothing, a new serving certificate (near expiry, or its names
 * changed), or a new CA as well (near expiry, or unreadable). "Near" is the last third of the
 * lifetime, so a renewal has months to reach every replica.
 */
export async function renewalNeeded(
  b: CertBundle,
  names: ServingNames,
  now: Date,
): Promise<"none" | "serving" | "all"> {
  let ca: CertFacts, serving: CertFacts;
  try {
    ca = certFacts(b.caCert);
    await importKey(b.caKey);
  } catch {
    return "all";
  }
  const late = (f: CertFacts) =>
    now.getTime() > f.notAfter.getTime() - (f.notAfter.getTime() - f.notBefore.getTime()) / 3;
  if (late(ca)) return "all";
  try {
    serving = certFacts(b.cert);
    await importKey(b.key);
  } catch {
    return "serving";
  }
  const covers = names.dnsNames.every((n) => serving.dnsNames.includes(n)) &&
    names.ips.every((n) => serving.ips.includes(n));
  if (late(serving) || !covers || !(await signedBy(b.cert, b.caCert))) return "serving";
  return "none";
}

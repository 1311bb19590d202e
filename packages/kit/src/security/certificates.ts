import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import forge from "node-forge";
import { spiffeId } from "./spiffe-id.js";

/**
 * Certificates for a local or test deployment: a CA and per-service leaves
 * carrying SPIFFE IDs. Node can parse certificates but not make them;
 * node-forge (pure JavaScript, no native build, no global side effects) makes
 * them on every platform Node runs on, with any validity window — tests need
 * expired and not-yet-valid ones, which the openssl CLI of Debian 12 cannot
 * backdate without a CA database. Keys are made by node:crypto (RSA 2048).
 */

/** A certificate and its private key, PEM. */
export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Options of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  /** @default "Trellis local CA" */
  readonly commonName?: string;
  /** @default now − 1 hour (clock skew between machines) */
  readonly notBefore?: Date;
  /** @default notBefore + 365 days */
  readonly notAfter?: Date;
}

/** Creates a self-signed CA that can sign leaves (but no further CAs). */
export function createCertificateAuthority(options: CertificateAuthorityOptions = {}): KeyPairPem {
  const keys = newKeyPair();
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * 86_400_000);
  const subject = [
    { name: "commonName", value: options.commonName ?? "Trellis local CA" },
    { name: "organizationName", value: "Trellis" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  signCertificate(cert, keys.pem);
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem };
}

/** Options of {@link issueCertificate}. */
export interface IssueOptions {
  /** The service the certificate identifies: its SPIFFE ID and common name. */
  readonly service: string;
  /** @default "trellis.local" */
  readonly trustDomain?: string;
  /** @default "default" */
  readonly namespace?: string;
  /** The URI SAN; pass `null` for a certificate without one. @default spiffeId(service, …) */
  readonly uri?: string | null;
  /** DNS SANs, which clients that check host names verify. @default ["localhost", service] */
  readonly dnsNames?: readonly string[];
  /** IP SANs. @default ["127.0.0.1", "::1"] */
  readonly ipAddresses?: readonly string[];
  /** @default now − 1 hour */
  readonly notBefore?: Date;
  /** @default notBefore + 90 days */
  readonly notAfter?: Date;
}

/** Issues a leaf for servers and clients alike (serverAuth and clientAuth), signed by `ca`. */
export function issueCertificate(ca: KeyPairPem, options: IssueOptions): KeyPairPem {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const keys = newKeyPair();
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = options.notAfter ?? new Date(notBefore.getTime() + 90 * 86_400_000);
  cert.setSubject([
    { name: "commonName", value: options.service },
    { name: "organizationName", value: "Trellis" },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const uri = options.uri === undefined ? spiffeId(options.service, { ...pick(options) }) : options.uri;
  const altNames: { type: number; value?: string; ip?: string }[] = [];
  if (uri !== null) altNames.push({ type: 6, value: uri });
  for (const dns of options.dnsNames ?? ["localhost", options.service]) altNames.push({ type: 2, value: dns });
  for (const ip of options.ipAddresses ?? ["127.0.0.1", "::1"]) altNames.push({ type: 7, ip });
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectAltName", altNames },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  signCertificate(cert, ca.keyPem);
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem };
}

function pick(options: IssueOptions): { trustDomain?: string; namespace?: string } {
  return {
    ...(options.trustDomain === undefined ? {} : { trustDomain: options.trustDomain }),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  };
}

function newKeyPair(): { publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { pem: privateKey, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

/**
 * Signs with node:crypto rather than forge's JavaScript RSA (measured ~200 ms
 * a signature on a busy machine, against ~2 ms): forge builds the
 * to-be-signed bytes, Node signs them (sha256WithRSAEncryption).
 */
function signCertificate(cert: forge.pki.Certificate, keyPem: string): void {
  const withSignature = cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1; md: forge.md.MessageDigest };
  cert.signatureOid = forge.pki.oids["sha256WithRSAEncryption"] ?? "1.2.840.113549.1.1.11";
  cert.siginfo.algorithmOid = cert.signatureOid;
  withSignature.md = forge.md.sha256.create();
  // forge's own sign() does exactly this; getTBSCertificate is public but missing from its typings.
  const pki = forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 };
  withSignature.tbsCertificate = pki.getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(withSignature.tbsCertificate).getBytes(), "binary");
  cert.signature = sign("sha256", tbs, keyPem).toString("binary");
}

/** A random positive 128-bit serial (RFC 5280: positive, at most 20 octets). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}

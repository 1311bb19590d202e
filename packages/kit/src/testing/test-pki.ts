import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCertificateAuthority, issueCertificate, type IssueOptions, type KeyPairPem } from "../security/certificates.js";

/** Files of one identity: `<dir>/<name>/cert.pem` and `key.pem`. */
export interface PemFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly pair: KeyPairPem;
}

/** A CA and the certificates issued from it, written under one folder in `npm run certs`' layout. */
export interface TestPki {
  readonly dir: string;
  readonly ca: KeyPairPem;
  /** `<dir>/ca.pem` */
  readonly caFile: string;
  /**
   * Issues (or re-issues: a rotation) `name`'s certificate and writes it
   * atomically, key first; `issuer` signs it instead of the PKI's CA.
   */
  issue(name: string, options?: Partial<IssueOptions> & { readonly issuer?: KeyPairPem }): Promise<PemFiles>;
  /** Replaces `<dir>/ca.pem` with these CAs' certificates (a bundle during a CA rotation). */
  trust(...cas: readonly KeyPairPem[]): Promise<void>;
}

/**
 * A throwaway PKI for tests (`dir` is the caller's temporary folder): the
 * same layout as `npm run certs`, so a service started with
 * `TRELLIS_TLS_DIR=<dir>` finds its files.
 */
export async function createTestPki(dir: string, ca: KeyPairPem = createCertificateAuthority()): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const caFile = join(dir, "ca.pem");
  await writeAtomic(caFile, ca.certPem);
  return {
    dir,
    ca,
    caFile,
    async issue(name, { issuer, ...options } = {}) {
      const pair = issueCertificate(issuer ?? ca, { service: name, ...options });
      const folder = join(dir, name);
      await mkdir(folder, { recursive: true });
      const keyFile = join(folder, "key.pem");
      const certFile = join(folder, "cert.pem");
      await writeAtomic(keyFile, pair.keyPem);
      await writeAtomic(certFile, pair.certPem);
      return { certFile, keyFile, pair };
    },
    trust: (...cas) => writeAtomic(caFile, cas.map((c) => c.certPem).join("")),
  };
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

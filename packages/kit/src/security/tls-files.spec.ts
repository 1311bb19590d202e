import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestPki, type TestPki } from "../testing/test-pki.js";
import { waitFor } from "../testing/service-process.js";
import { issueCertificate } from "./certificates.js";
import { spiffeId } from "./spiffe-id.js";
import { loadTlsFiles, type TlsFiles } from "./tls-files.js";

describe("TLS files", () => {
  let dir: string;
  let pki: TestPki;
  const opened: TlsFiles[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-tls-files-"));
    pki = await createTestPki(dir);
  });
  after(async () => {
    for (const files of opened) files.close();
    await rm(dir, { recursive: true, force: true });
  });
  const load = async (watch = false): Promise<TlsFiles> => {
    const { certFile, keyFile } = { certFile: join(dir, "user", "cert.pem"), keyFile: join(dir, "user", "key.pem") };
    const files = await loadTlsFiles({
      certFile,
      keyFile,
      caFile: pki.caFile,
      names: { cert: "TRELLIS_TLS_CERT", key: "TRELLIS_TLS_KEY" },
      watch,
      checkIntervalMs: 0,
    });
    opened.push(files);
    return files;
  };

  it("loads a certificate, its key and the CA, and reads the SPIFFE identity", async () => {
    await pki.issue("user");
    const files = await load();
    assert.equal(files.current().identity?.spiffeId, spiffeId("user"));
    assert.equal(files.current().version, 1);
  });

  it("refuses to start with a key that is not the certificate's, naming the variables", async () => {
    const other = issueCertificate(pki.ca, { service: "user" });
    await pki.issue("user");
    await writeFile(join(dir, "user", "key.pem"), other.keyPem);
    await assert.rejects(load(), /TRELLIS_TLS_KEY is not the private key of TRELLIS_TLS_CERT/);
    await assert.rejects(
      loadTlsFiles({ certFile: join(dir, "nowhere.pem"), keyFile: join(dir, "user", "key.pem"), names: { cert: "TRELLIS_TLS_CERT" } }),
      /cannot read TRELLIS_TLS_CERT .*ENOENT/,
    );
  });

  it("keeps the current pair while a rotation is half written, and takes the new one when it is whole", async () => {
    const first = await pki.issue("user");
    const files = await load();
    const fingerprint = files.current().fingerprint;
    const next = issueCertificate(pki.ca, { service: "user" });
    // The key is written first: for a moment the key is new and the certificate old.
    await writeFile(first.keyFile, next.keyPem);
    assert.equal(await files.reload(), false);
    assert.equal(files.current().fingerprint, fingerprint);
    await writeFile(first.certFile, next.certPem);
    assert.equal(await files.reload(), true);
    assert.notEqual(files.current().fingerprint, fingerprint);
    assert.equal(files.current().version, 2);
    // Garbage in place of the certificate: refused, the good pair stays.
    await writeFile(first.certFile, "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n");
    assert.equal(await files.reload(), false);
    await writeFile(first.certFile, Buffer.alloc(2 * 1024 * 1024, 0x41));
    assert.equal(await files.reload(), false);
    assert.equal(files.current().version, 2);
  });

  it("notices changed files through fs.watch and tells its listeners and grpc-js providers", async () => {
    await pki.issue("user");
    const files = await load(true);
    const seen: number[] = [];
    files.onChange((material) => seen.push(material.version));
    const identities: (Buffer | undefined)[] = [];
    files.addIdentityCertificateListener((update) => identities.push(update?.certificate));
    await waitFor(() => identities.length === 1, "the provider did not report the current certificate", { timeoutMs: 5000 });
    const rotated = await pki.issue("user");
    await waitFor(() => seen.length > 0, "the rotation was not noticed", { timeoutMs: 10_000 });
    assert.equal(files.current().cert?.toString(), rotated.pair.certPem);
    assert.equal(identities.at(-1)?.toString(), rotated.pair.certPem);
  });
});

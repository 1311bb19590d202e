import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { X509Certificate } from "node:crypto";
import { closeClient, createClient } from "@trellis/kit";
import {
  createCertificateAuthority,
  createClientCredentials,
  loadTlsFiles,
  spiffeId,
  type KeyPairPem,
  type TlsFiles,
} from "@trellis/kit/security";
import { createTestPki, startServiceProcess, waitFor, type ServiceProcess, type TestPki } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

/**
 * The SHA-256 fingerprint of the certificate the server presents to a new
 * connection as `client`, or "refused" when it refuses `client` (with TLS 1.3
 * that comes after the client's side of the handshake is done: the connection
 * is closed, with or without an alert, instead of staying open).
 */
function presented(port: number, ca: string, client: KeyPairPem): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca,
      cert: client.certPem,
      key: client.keyPem,
      ALPNProtocols: ["h2"],
      checkServerIdentity: () => undefined,
    });
    let fingerprint = "";
    let kept = false;
    socket.once("secureConnect", () => {
      fingerprint = socket.getPeerCertificate().fingerprint256;
      // A connection the server keeps is one it accepted: HTTP/2 waits for our preface.
      setTimeout(() => {
        kept = true;
        socket.destroy();
      }, 300).unref();
    });
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.once("close", () => resolve(kept ? fingerprint : "refused"));
  });
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** `trellis_tls_handshakes_total{outcome="ok"}` from the process' /metrics. */
async function handshakesOk(service: ServiceProcess): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    request({ host: "127.0.0.1", port: service.adminPort, path: "/metrics" }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve(text));
    })
      .on("error", reject)
      .end();
  });
  return Number(/^trellis_tls_handshakes_total\{outcome="ok"\} (\d+)/m.exec(body)?.[1] ?? Number.NaN);
}

describe("the user process over mTLS", () => {
  let dir: string;
  let pki: TestPki;
  let service: ServiceProcess | undefined;
  let clientFiles: TlsFiles | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-mtls-rotation-"));
    pki = await createTestPki(dir);
    await pki.issue("user");
    // The client is the edge: under mTLS the user service's rules let only the edge create users.
    await pki.issue("edge");
  });
  after(async () => {
    clientFiles?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("rotates its certificates and its CA under steady traffic without losing a call", async () => {
    service = await startServiceProcess(MAIN, {
      env: {
        TRELLIS_TLS_DIR: dir,
        TRELLIS_TLS_RELOAD_MS: "200",
        LOG_SUCCESS_SAMPLE: "0",
        // Connections are replaced every half second, so new handshakes happen all through the test.
        GRPC_MAX_CONNECTION_AGE_MS: "500",
        GRPC_MAX_CONNECTION_AGE_GRACE_MS: "10000",
      },
    });
    const { port } = service;
    clientFiles = await loadTlsFiles({
      certFile: join(dir, "edge", "cert.pem"),
      keyFile: join(dir, "edge", "key.pem"),
      caFile: pki.caFile,
      checkIntervalMs: 200,
    });
    const users = createClient(UserService, `127.0.0.1:${port}`, {
      credentials: createClientCredentials({ files: clientFiles, serverIdentity: spiffeId("user") }),
      // No retries: a call lost to a handshake would show.
      resilience: false,
    });
    const { user } = await users.createUser({ email: "rotation@example.com", displayName: "Rotation" });
    const outcomes = { ok: 0, failed: [] as string[] };
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        try {
          await users.getUser({ id: user!.id }, { timeoutMs: 10_000 });
          outcomes.ok += 1;
        } catch (error) {
          outcomes.failed.push((error as Error).message);
        }
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    /** Waits until traffic has gone on over at least two new connections since now. */
    const moreTraffic = async (): Promise<void> => {
      const [calls, handshakes] = [outcomes.ok, await handshakesOk(service!)];
      await waitFor(
        async () => outcomes.ok >= calls + 100 && (await handshakesOk(service!)) >= handshakes + 2,
        "traffic did not go on over new connections",
        { timeoutMs: 30_000 },
      );
    };
    try {
      await moreTraffic();
      const ca1 = pki.ca;
      // 1. New certificates from the same CA.
      const user2 = await pki.issue("user");
      const edge2 = await pki.issue("edge");
      await waitFor(
        async () => (await presented(port, ca1.certPem, edge2.pair)) === fingerprintOf(user2.pair.certPem),
        "the server did not present its new certificate",
      );
      await waitFor(() => clientFiles!.current().cert?.toString() === edge2.pair.certPem, "the client did not load its new certificate");
      await moreTraffic();
      // 2. A new CA: trusted next to the old one, then certificates from it, then the old CA dropped.
      const ca2 = createCertificateAuthority({ commonName: "Trellis CA 2" });
      await pki.trust(ca1, ca2);
      const probe2 = (await createTestPki(join(dir, "probe"), ca2)).issue("edge");
      const probe = (await probe2).pair;
      await waitFor(async () => (await presented(port, ca1.certPem, probe)) !== "refused", "the server did not trust the new CA");
      await moreTraffic();
      const user3 = await pki.issue("user", { issuer: ca2 });
      const edge3 = await pki.issue("edge", { issuer: ca2 });
      await waitFor(
        async () => (await presented(port, ca2.certPem, edge3.pair)) === fingerprintOf(user3.pair.certPem),
        "the server did not present its certificate from the new CA",
      );
      await moreTraffic();
      await pki.trust(ca2);
      await waitFor(
        async () => (await presented(port, ca2.certPem, edge2.pair)) === "refused",
        "the server still accepts certificates of the dropped CA",
      );
      await waitFor(() => clientFiles!.current().ca?.toString() === ca2.certPem, "the client did not drop the old CA");
      await moreTraffic();
    } finally {
      running = false;
      await Promise.all(workers);
      closeClient(users);
    }
    assert.deepEqual(outcomes.failed, []);
    assert.ok(outcomes.ok > 500, `only ${outcomes.ok} calls`);
    const reloads = service.logs.filter((line) => line["event.action"] === "tls-reload" && /reloaded/.test(String(line["message"])));
    assert.ok(reloads.length >= 4, `the server reloaded ${reloads.length} times`);
  });
});

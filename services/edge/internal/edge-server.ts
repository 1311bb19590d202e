import { createServer as createHttp1Server, type RequestListener } from "node:http";
import { createServer as createHttp2Server, type ServerHttp2Session } from "node:http2";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Code } from "@trellis/kit/errors";
import { serveConnect, connectKindOf } from "./connect.js";
import type { CorsPolicy } from "./cors.js";
import type { EdgeContext } from "./edge-context.js";
import { serveGrpcWeb } from "./grpc-web.js";
import { mediaType, type EdgeRequest, type EdgeResponse } from "./http-io.js";
import type { JsonCodec } from "./json-codec.js";
import type { RestRoutes } from "./rest/http-rules.js";
import { sendStatus, serveRest } from "./rest/rest-handler.js";
import type { StaticFiles } from "./static-files.js";

/** What the edge's HTTP server is made of. */
export interface EdgeServerOptions {
  readonly context: EdgeContext;
  readonly codec: JsonCodec;
  readonly rest: RestRoutes;
  readonly cors: CorsPolicy;
  readonly files: StaticFiles;
  /** Open connections; more are closed at accept. */
  readonly maxConnections: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS. */
  readonly maxStreamsPerConnection: number;
  /** A connection with nothing in progress for this long is closed. */
  readonly idleTimeoutMs: number;
}

/** The edge's public HTTP server. */
export interface EdgeServer {
  /** Listens; resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting, lets calls in progress finish for `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

// `/<package.Service>/<Method>`: an RPC path of gRPC-Web and Connect.
const RPC_PATH = /^\/[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+\/[A-Za-z_]\w*$/;

/**
 * One socket for every protocol: HTTP/1.1 and h2c (prior knowledge). `/<package.Service>/<Method>` is gRPC-Web or
 * Connect by Content-Type; paths of google.api.http rules are REST; the rest
 * is the web app. API routes pass the CORS policy first.
 */
export function createEdgeServer(options: EdgeServerOptions): EdgeServer {
  const { context, codec, rest, cors, files } = options;
  // Requests in progress per connection, so an idle timeout never cuts a quiet response stream.
  const busy = new WeakMap<object, number>();
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();

  const handle = async (request: EdgeRequest, response: EdgeResponse): Promise<void> => {
    const url = request.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const method = request.method;
    if (RPC_PATH.test(path)) {
      if (cors.handle(request, response, () => context.metrics.refused("cors", "cors_origin"))) return;
      const type = mediaType(request.headers["content-type"]);
      if (method === "POST") {
        if (type === "application/grpc-web" || type === "application/grpc-web+proto")
          return serveGrpcWeb(context, codec, request, response, path, "binary");
        if (type === "application/grpc-web-text" || type === "application/grpc-web-text+proto")
          return serveGrpcWeb(context, codec, request, response, path, "text");
        if (type === "application/grpc-web+json") return serveGrpcWeb(context, codec, request, response, path, "json");
        const kind = connectKindOf(type);
        if (kind !== undefined) return serveConnect(context, codec, request, response, path, kind, undefined);
      } else if (method === "GET" && q !== -1) {
        const query = new URLSearchParams(url.slice(q + 1));
        const encoding = query.get("encoding");
        if (encoding === "proto" || encoding === "json")
          return serveConnect(context, codec, request, response, path, { codec: encoding, streaming: false }, query);
      }
      context.metrics.refused("http", method === "POST" || method === "GET" ? "unsupported_media_type" : "method_not_allowed");
      const status = method === "POST" || method === "GET" ? 415 : 405;
      response.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...(status === 405 ? { allow: "POST, GET" } : {}) });
      response.end(
        status === 415
          ? `unsupported content-type "${type}" for ${path}: send gRPC-Web (application/grpc-web+proto, application/grpc-web-text, application/grpc-web+json) or Connect (application/proto, application/json, application/connect+proto, application/connect+json)\n`
          : `${method ?? ""} is not allowed on ${path}: RPCs are called with POST (Connect also with GET)\n`,
      );
      return;
    }
    const isApi = path.startsWith("/v1/") || path === "/v1";
    if (isApi && cors.handle(request, response, () => context.metrics.refused("cors", "cors_origin"))) return;
    const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    if (await serveRest(context, codec, rest, request, response, path, query)) return;
    if (isApi) {
      context.metrics.refused("rest", "unknown_route");
      sendStatus(response, codec, 404, {
        code: Code.NOT_FOUND,
        message: `no route for ${method ?? ""} ${path}`,
        details: undefined,
        header: new Headers(),
        trailer: new Headers(),
      });
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      response.end("malformed percent-encoding in the path\n");
      return;
    }
    await files.serve(request, response, decoded);
  };

  const onRequest = (request: EdgeRequest, response: EdgeResponse): void => {
    const owner: object = request.stream?.session ?? request.socket;
    busy.set(owner, (busy.get(owner) ?? 0) + 1);
    response.once("close", () => busy.set(owner, (busy.get(owner) ?? 1) - 1));
    request.on("error", () => undefined);
    handle(request, response).catch((error: unknown) => {
      context.logger.error({ error, "url.path": request.url }, "edge request failed");
      if (!response.headersSent && !response.destroyed) {
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        response.end("internal error\n");
      } else {
        response.destroy();
      }
    });
  };
  const h2 = createHttp2Server({ settings: { maxConcurrentStreams: options.maxStreamsPerConnection } }, onRequest);
  // node:http's request/response have the members the handlers use (the compatibility API mirrors them).
  const h1 = createHttp1Server(
    { keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 0 },
    onRequest as unknown as RequestListener,
  );
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => undefined);
    session.setTimeout(options.idleTimeoutMs, () => {
      if ((busy.get(session) ?? 0) === 0) session.close();
    });
  });
  h2.on("sessionError", () => undefined);
  h1.on("clientError", (_error: Error, socket: Duplex) => socket.destroy());
  // One port for both versions: node:http2 serves HTTP/1.1 only on TLS (allowHTTP1), so the
  // first bytes decide: the HTTP/2 connection preface goes to h2, anything else to node:http.
  const server = createTcpServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.setTimeout(options.idleTimeoutMs, () => {
      // HTTP/1.1: close only when nothing is in progress on it (a quiet response stream stays).
      if ((busy.get(socket) ?? 0) === 0 && !isH2(socket)) socket.destroy();
    });
    socket.once("data", (head: Buffer) => {
      socket.pause();
      socket.unshift(head);
      const n = Math.min(head.length, PREFACE.length);
      if (head.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        // node:http2 reads what is already buffered on the socket itself (on the next tick).
        h2Sockets.add(socket);
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  const h2Sockets = new WeakSet<Socket>();
  const isH2 = (socket: Socket): boolean => h2Sockets.has(socket);
  server.maxConnections = options.maxConnections;

  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          server.on("error", (error) => context.logger.error({ error }, "edge listener failed"));
          const address = server.address();
          resolve(typeof address === "object" && address !== null ? address.port : port);
        });
      }),
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      for (const socket of sockets) if ((busy.get(socket) ?? 0) === 0 && !isH2(socket)) socket.destroy();
      const timer = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}

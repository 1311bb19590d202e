import type { Http2Server, Http2SecureServer, ServerHttp2Stream } from "node:http2";
import type { Duplex } from "node:stream";
import type * as grpc from "@grpc/grpc-js";

/** A grpc-js connection injector and the HTTP/2 server behind it. */
export interface InjectedServer {
  /** Hands an accepted socket to grpc-js. */
  inject(socket: Duplex): void;
  /** The node:http2 server grpc-js made for the injector, for its `session` events. */
  readonly http2Server: Http2Server | Http2SecureServer;
}

/**
 * Creates a grpc-js connection injector (public API: the kit owns the TCP
 * listener and admits each connection itself) and finds the node:http2 server
 * grpc-js made for it. grpc-js does not expose that server, but the kit needs
 * its `session` events to guard connections (resets, pings, preface, closing
 * sockets Node leaves open); it is read from grpc-js' private `http2Servers`
 * map, so a grpc-js that changes that shape fails here, at start, by name.
 */
export function createInjectedServer(server: grpc.Server, credentials: grpc.ServerCredentials): InjectedServer {
  const servers = (server as unknown as { http2Servers?: Map<unknown, unknown> }).http2Servers;
  if (!(servers instanceof Map)) throw unsupported();
  const before = new Set(servers.keys());
  const injector = server.createConnectionInjector(credentials);
  const added = [...servers.keys()].filter((key) => !before.has(key));
  const http2Server = added[0] as Http2Server | undefined;
  if (added.length !== 1 || http2Server === undefined || typeof http2Server.on !== "function") throw unsupported();
  return { inject: (socket) => injector.injectConnection(socket), http2Server };
}

function unsupported(): Error {
  return new Error("this @grpc/grpc-js version keeps its HTTP/2 servers differently; the kit's connection guard needs grpc-js 1.14");
}

/**
 * The HTTP/2 stream under a grpc-js server call (the handler's call object →
 * its grpc-js call → the stream), read from private fields because grpc-js
 * offers no way to reset a call's stream. Undefined when the shape differs.
 */
export function http2StreamOf(call: object): ServerHttp2Stream | undefined {
  const inner = (call as { call?: { stream?: unknown } }).call;
  const stream = inner?.stream as ServerHttp2Stream | undefined;
  return stream !== undefined && typeof stream.close === "function" && "rstCode" in stream ? stream : undefined;
}

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import type { PartialStatusObject } from "@grpc/grpc-js/build/src/call-interface.js";
import type { ServerLimits } from "./server-limits.js";

/** Options of {@link createWireGuard}. */
export interface WireGuardOptions {
  readonly limits: Pick<ServerLimits, "maxConcurrentCalls" | "requestTimeoutMs">;
  /** Calls on these path prefixes are never refused for load (health checks). @default ["/grpc.health.v1.Health/"] */
  readonly exemptPrefixes?: readonly string[];
  /** @default Date.now */
  readonly now?: () => number;
}

/** The calls grpc-js has started, from their headers to their status. */
export interface WireGuard {
  /** Installed as grpc-js' first server interceptor. */
  readonly interceptor: grpc.ServerInterceptor;
  /**
   * Tells the guard which HTTP/2 stream the next call grpc-js starts is on,
   * and with which request headers (a session `stream` listener placed before
   * grpc-js' own).
   */
  noteStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** The HTTP/2 stream of a call, found by the request metadata grpc-js gave its handler. */
  streamOf(metadata: grpc.Metadata): ServerHttp2Stream | undefined;
  /** Ends single-request calls whose request has not arrived within `requestTimeoutMs`. */
  sweep(now: number): void;
  /** Calls started and not yet ended. */
  readonly active: number;
}

interface ActiveCall {
  readonly call: grpc.ServerInterceptingCallInterface;
  /** When the whole request must have arrived (single-request methods), until it has. */
  requestBy: number | undefined;
}

/**
 * The part of the server that works at grpc-js' level, below the kit's own
 * interceptor chain, so that it covers every call from its first byte — also
 * the calls grpc-js answers by itself before a handler runs:
 *
 * - admission: past `maxConcurrentCalls`, RESOURCE_EXHAUSTED before any work;
 * - the request timeout: grpc-js runs a unary or server-streaming handler only
 *   once the whole request is in, so a client that never finishes it would hold
 *   the call (and its memory) for ever;
 * - statuses: grpc-js answers framing mistakes with misleading codes
 *   (UNIMPLEMENTED "server streaming method" for a truncated or doubled unary
 *   request, INTERNAL for a malformed grpc-timeout or undecompressable body);
 *   the client sent bad input, so it gets INVALID_ARGUMENT and a clear message.
 */
export function createWireGuard(options: WireGuardOptions): WireGuard {
  const { maxConcurrentCalls, requestTimeoutMs } = options.limits;
  const exempt = options.exemptPrefixes ?? ["/grpc.health.v1.Health/"];
  const now = options.now ?? Date.now;
  const active = new Set<ActiveCall>();
  const streams = new WeakMap<grpc.Metadata, ServerHttp2Stream>();
  let nextStream: ServerHttp2Stream | undefined;
  let nextTimeout: string | undefined;

  // Ends the call before grpc-js does anything with it (start runs before any read).
  const answer = (call: grpc.ServerInterceptingCallInterface, code: grpc.status, details: string): grpc.ServerInterceptingCall =>
    new grpc.ServerInterceptingCall(call, { start: () => call.sendStatus({ code, details }) });

  const interceptor: grpc.ServerInterceptor = (method, call) => {
    const stream = nextStream;
    const timeout = nextTimeout;
    nextStream = nextTimeout = undefined;
    // grpc-js would answer INTERNAL a tick later; a status sent now wins.
    if (timeout !== undefined && !GRPC_JS_TIMEOUT.test(timeout)) {
      return answer(call, grpc.status.INVALID_ARGUMENT, malformedTimeout(timeout));
    }
    if (maxConcurrentCalls > 0 && active.size >= maxConcurrentCalls && !exempt.some((prefix) => method.path.startsWith(prefix))) {
      return answer(call, grpc.status.RESOURCE_EXHAUSTED, `the server is at its limit of ${maxConcurrentCalls} calls in progress; retry later`);
    }
    const entry: ActiveCall = {
      call,
      requestBy: !method.requestStream && requestTimeoutMs > 0 ? now() + requestTimeoutMs : undefined,
    };
    active.add(entry);
    const end = (): void => void active.delete(entry);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            if (stream !== undefined) streams.set(metadata, stream);
            forward(metadata);
          },
          onReceiveHalfClose: (forward) => {
            entry.requestBy = undefined;
            forward();
          },
          onCancel: end,
        }),
      sendStatus: (status, forward) => {
        end();
        forward(status);
      },
    });
  };

  return {
    interceptor,
    noteStream(stream, headers) {
      nextStream = stream;
      const timeout = headers["grpc-timeout"];
      nextTimeout = typeof timeout === "string" ? timeout : undefined;
      clarifyStatuses(stream, String(headers[":path"] ?? ""));
    },
    streamOf: (metadata) => streams.get(metadata),
    sweep(at) {
      for (const entry of active) {
        if (entry.requestBy !== undefined && entry.requestBy <= at) {
          entry.requestBy = undefined;
          active.delete(entry);
          entry.call.sendStatus({
            code: grpc.status.DEADLINE_EXCEEDED,
            details: `the request was not received within ${requestTimeoutMs} ms`,
          });
        }
      }
    },
    get active() {
      return active.size;
    },
  };
}

/** grpc-js' own test of grpc-timeout (unanchored, as grpc-js has it): what it rejects, the kit rejects first. */
const GRPC_JS_TIMEOUT = /(\d{1,8})\s*([HMSmun])/;

function malformedTimeout(value: string): string {
  return `the grpc-timeout header "${value.slice(0, 64)}" is malformed: expected 1 to 8 digits and a unit (H, M, S, m, u or n)`;
}

/**
 * Rewrites the status headers grpc-js sends on this stream through
 * {@link clarify}. Done on the stream because grpc-js sends some of these
 * statuses from inside its own call object (a body that fails to decompress),
 * where no interceptor sees them.
 */
function clarifyStatuses(stream: ServerHttp2Stream, path: string): void {
  const respond = stream.respond;
  const sendTrailers = stream.sendTrailers;
  stream.respond = function (headers, options) {
    respond.call(this, headers === undefined ? headers : clarifyHeaders(headers, path), options);
  };
  stream.sendTrailers = function (headers) {
    sendTrailers.call(this, clarifyHeaders(headers, path));
  };
}

function clarifyHeaders(headers: OutgoingHttpHeaders, path: string): OutgoingHttpHeaders {
  const code = Number(headers["grpc-status"]);
  // Only the two codes grpc-js misuses are looked at: OK and every handler status pass untouched.
  if (code !== grpc.status.UNIMPLEMENTED && code !== grpc.status.INTERNAL) return headers;
  const message = String(headers["grpc-message"] ?? "");
  let details: string;
  try {
    details = decodeURI(message);
  } catch {
    details = message;
  }
  const clarified = clarify({ code, details }, path);
  return clarified.code === code ? headers : { ...headers, "grpc-status": clarified.code, "grpc-message": encodeURI(clarified.details ?? "") };
}

/**
 * Replaces grpc-js' statuses for malformed requests (matched on its own
 * messages, which the kit's tests pin) with INVALID_ARGUMENT and a message
 * that says what was wrong.
 */
export function clarify(status: PartialStatusObject, path: string): PartialStatusObject {
  const details = status.details ?? "";
  if (status.code === grpc.status.UNIMPLEMENTED) {
    if (details.startsWith("Received a second request message")) {
      return invalid(status, `${path} takes exactly one request message; the client sent more than one`);
    }
    if (details.startsWith("Received no request message")) {
      return invalid(status, `${path} takes exactly one request message; the request ended without a complete one (a missing or truncated gRPC frame)`);
    }
  }
  if (status.code === grpc.status.INTERNAL) {
    const timeout = /^Invalid grpc-timeout value "(.*)"$/s.exec(details);
    if (timeout !== null) return invalid(status, malformedTimeout(timeout[1] ?? ""));
    if (details === "Failed to decompress message") {
      return invalid(status, "a request message could not be decompressed with the call's grpc-encoding");
    }
  }
  return status;
}

function invalid(status: PartialStatusObject, details: string): PartialStatusObject {
  return { ...status, code: grpc.status.INVALID_ARGUMENT, details };
}

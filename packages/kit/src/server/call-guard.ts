import { constants as http2, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { status as Code } from "@grpc/grpc-js";
import type { ServerLimits } from "./server-limits.js";
import type { Admission, LoadShedder } from "../resilience/load-shedder.js";
import { retryInfo } from "../errors/error-details.js";
import { encodeStatusDetails } from "../errors/status-details.js";
import { Code as RpcCode } from "../errors/code.js";

/** Options of {@link createCallGuard}. */
export interface CallGuardOptions {
  readonly limits: Pick<ServerLimits, "maxConcurrentCalls" | "requestTimeoutMs">;
  /** Whether a method path takes a single request message (unary, server streaming). */
  readonly singleRequest: (path: string) => boolean;
  /**
   * Whether grpc-js will start a call for this path (a method it serves).
   * Other streams — unknown methods, non-gRPC content types — grpc-js answers
   * itself, at once, without checking whether someone answered first: the
   * guard leaves them alone.
   */
  readonly serves: (path: string) => boolean;
  /** Calls on these path prefixes are never refused for load (health checks). @default ["/grpc.health.v1.Health/"] */
  readonly exemptPrefixes?: readonly string[];
  /** @default Date.now */
  readonly now?: () => number;
  /** Hears of each call opened, and of each the guard answers itself (for metrics). @default none */
  readonly observer?: CallGuardObserver;
  /** Sheds calls under overload before grpc-js sees them. @default none */
  readonly shedding?: CallGuardShedding;
}

/** Load shedding at the door: a shed call costs a trailers-only answer, no decoding, no handler. */
export interface CallGuardShedding {
  readonly shedder: LoadShedder;
  /** Paths never shed (health checks, reflection: operators' and load balancers' traffic). */
  readonly exemptPrefixes: readonly string[];
  /** Whether a path's calls count as in flight until they end (unary, client streaming); a stream counts only as it opens. */
  readonly timed: (path: string) => boolean;
  /** The RetryInfo delay a shed call is given. */
  readonly retryAfterMs: number;
  /** Told of each shed call (metrics, a throttled log line). @default none */
  readonly onShed?: (path: string) => void;
}

/** What the guard reports to metrics: every call before grpc-js sees it, and its own answers. */
export interface CallGuardObserver {
  /** A call arrived for `path` (known or not). */
  opened(path: string): void;
  /** The guard ended the call itself with `code`. */
  answered(path: string, code: Code): void;
}

/** Call-level protections, applied to each HTTP/2 stream before grpc-js sees it. */
export interface CallGuard {
  /**
   * Admits a new stream (called before grpc-js' own `stream` listener). A
   * stream it answers itself (over the call limit, a malformed grpc-timeout)
   * is closed before grpc-js can start a call on it.
   */
  open(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** A stream closed. */
  close(stream: ServerHttp2Stream): void;
  /** Ends single-request calls whose request has not fully arrived within `requestTimeoutMs`. */
  sweep(now: number): void;
  /** Streams open on the server. */
  readonly active: number;
}

/**
 * What grpc-js leaves to the application at the call level, done on the HTTP/2
 * stream (a grpc-js server interceptor would do it too, but was measured at
 * ~8 µs of a ~65 µs call):
 *
 * - admission: past `maxConcurrentCalls`, RESOURCE_EXHAUSTED before any work;
 * - the request timeout: grpc-js runs a unary or server-streaming handler only
 *   once the whole request is in, so a client that never finishes it would hold
 *   the call (and its memory) for ever;
 * - statuses: grpc-js answers framing mistakes with misleading codes
 *   (UNIMPLEMENTED "server streaming method" for a truncated or doubled unary
 *   request, INTERNAL for a malformed grpc-timeout or an undecompressable
 *   body); the client sent bad input, so it gets INVALID_ARGUMENT with a clear
 *   message.
 */
export function createCallGuard(options: CallGuardOptions): CallGuard {
  const { maxConcurrentCalls, requestTimeoutMs } = options.limits;
  const exempt = options.exemptPrefixes ?? ["/grpc.health.v1.Health/"];
  const now = options.now ?? Date.now;
  const observer = options.observer;
  const answerCall = (stream: ServerHttp2Stream, path: string, code: Code, message: string, extra?: OutgoingHttpHeaders): void => {
    if (answer(stream, code, message, extra)) observer?.answered(path, code);
  };
  const shedding = options.shedding;
  const SHED_MESSAGE = "the server is overloaded; retry later, preferably on another instance";
  const shedHeaders: OutgoingHttpHeaders | undefined =
    shedding === undefined
      ? undefined
      : {
          "grpc-status-details-bin": encodeStatusDetails(RpcCode.UNAVAILABLE, SHED_MESSAGE, [retryInfo(shedding.retryAfterMs)])
            .toString("base64")
            .replace(/=+$/, ""),
        };
  /** Admitted calls the shedder times, until their stream closes. */
  const admissions = new Map<ServerHttp2Stream, Admission>();
  /** Single-request streams whose request is still arriving, with their deadline. */
  const awaitingRequest = new Map<ServerHttp2Stream, { readonly deadline: number; readonly path: string }>();
  let active = 0;

  return {
    open(stream, headers) {
      active += 1;
      const path = String(headers[":path"] ?? "");
      observer?.opened(path);
      const contentType = headers["content-type"];
      if (!options.serves(path) || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) return;
      const timeout = headers["grpc-timeout"];
      if (typeof timeout === "string" && !GRPC_JS_TIMEOUT.test(timeout)) {
        return answerCall(stream, path, Code.INVALID_ARGUMENT, malformedTimeout(timeout));
      }
      if (maxConcurrentCalls > 0 && active > maxConcurrentCalls && !exempt.some((prefix) => path.startsWith(prefix))) {
        return answerCall(
          stream,
          path,
          Code.RESOURCE_EXHAUSTED,
          `the server is at its limit of ${maxConcurrentCalls} calls in progress; retry later`,
        );
      }
      if (shedding !== undefined && !shedding.exemptPrefixes.some((prefix) => path.startsWith(prefix))) {
        const admission = shedding.shedder.admit();
        if (admission === undefined) {
          shedding.onShed?.(path);
          return answerCall(stream, path, Code.UNAVAILABLE, SHED_MESSAGE, shedHeaders);
        }
        if (shedding.timed(path)) admissions.set(stream, admission);
        else admission.done();
      }
      stream.respond = clarifiedRespond;
      stream.sendTrailers = clarifiedSendTrailers;
      if (requestTimeoutMs > 0 && options.singleRequest(path)) awaitingRequest.set(stream, { deadline: now() + requestTimeoutMs, path });
    },
    close(stream) {
      active -= 1;
      awaitingRequest.delete(stream);
      const admission = admissions.get(stream);
      if (admission !== undefined) {
        admissions.delete(stream);
        admission.done();
      }
    },
    sweep(at) {
      for (const [stream, { deadline, path }] of awaitingRequest) {
        if (stream.readableEnded) awaitingRequest.delete(stream);
        else if (deadline <= at) {
          awaitingRequest.delete(stream);
          answerCall(stream, path, Code.DEADLINE_EXCEEDED, `the request was not received within ${requestTimeoutMs} ms`);
        }
      }
    },
    get active() {
      return active;
    },
  };
}

/**
 * Ends a call grpc-js has not answered: a trailers-only response, then
 * RST_STREAM NO_ERROR once it is sent (RFC 9113 §8.1: the client may stop
 * sending its request). The stream reads as closed at once, so grpc-js starts
 * nothing on it.
 */
function answer(stream: ServerHttp2Stream, code: Code, message: string, extra?: OutgoingHttpHeaders): boolean {
  if (stream.headersSent || stream.closed || stream.destroyed) return false;
  original(stream).respond.call(
    stream,
    { ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": encodeURI(message), ...extra },
    { endStream: true },
  );
  stream.close(http2.NGHTTP2_NO_ERROR);
  return true;
}

/** grpc-js' own test of grpc-timeout (unanchored, as grpc-js has it): what it would reject, the kit rejects first. */
const GRPC_JS_TIMEOUT = /(\d{1,8})\s*([HMSmun])/;

function malformedTimeout(value: string): string {
  return `the grpc-timeout header "${value.slice(0, 64)}" is malformed: expected 1 to 8 digits and a unit (H, M, S, m, u or n)`;
}

type ServerStreamMethods = Pick<ServerHttp2Stream, "respond" | "sendTrailers">;

/** The stream class' own methods, under the clarifying ones set on the instance. */
function original(stream: ServerHttp2Stream): ServerStreamMethods {
  return Object.getPrototypeOf(stream) as ServerStreamMethods;
}

/**
 * Status headers pass through {@link clarify} on their way out: grpc-js sends
 * some of the statuses it misuses from inside its own call object (a body that
 * fails to decompress), where no interceptor could see them. Shared functions,
 * so a stream costs two property writes, not two closures.
 */
function clarifiedRespond(
  this: ServerHttp2Stream,
  headers?: OutgoingHttpHeaders,
  options?: Parameters<ServerHttp2Stream["respond"]>[1],
): void {
  original(this).respond.call(this, headers === undefined ? headers : clarifyHeaders(headers), options);
}

function clarifiedSendTrailers(this: ServerHttp2Stream, headers: OutgoingHttpHeaders): void {
  original(this).sendTrailers.call(this, clarifyHeaders(headers));
}

function clarifyHeaders(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const code = Number(headers["grpc-status"]);
  // Only the two codes grpc-js misuses are looked at: OK and handler statuses pass untouched.
  if (code !== Code.UNIMPLEMENTED && code !== Code.INTERNAL) return headers;
  const message = String(headers["grpc-message"] ?? "");
  let details: string;
  try {
    details = decodeURI(message);
  } catch {
    details = message;
  }
  const clarified = clarify(code, details);
  return clarified === undefined
    ? headers
    : { ...headers, "grpc-status": String(Code.INVALID_ARGUMENT), "grpc-message": encodeURI(clarified) };
}

/**
 * The clear message for a status grpc-js gives a malformed request (matched on
 * grpc-js' own messages, which the kit's tests pin), or undefined when the
 * status is not one of those.
 */
export function clarify(code: Code, details: string): string | undefined {
  if (code === Code.UNIMPLEMENTED) {
    if (details.startsWith("Received a second request message")) {
      return "this method takes exactly one request message; the client sent more than one";
    }
    if (details.startsWith("Received no request message")) {
      return "this method takes exactly one request message; the request ended without a complete one (a missing or truncated gRPC frame)";
    }
  }
  if (code === Code.INTERNAL) {
    const timeout = /^Invalid grpc-timeout value "(.*)"$/s.exec(details);
    if (timeout !== null) return malformedTimeout(timeout[1] ?? "");
    if (details === "Failed to decompress message") return "a request message could not be decompressed with the call's grpc-encoding";
    // grpc-js' own deserializers (health checks) fail this way on bytes that are not the message.
    if (details.startsWith("Error deserializing request")) return "the request is not a valid protobuf message of this method's input type";
  }
  return undefined;
}

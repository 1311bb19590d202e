import type { IncomingHttpHeaders } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** A request on either HTTP version (node:http2's compatibility API, HTTP/1.1 through allowHTTP1). */
export type EdgeRequest = Http2ServerRequest;
/** A response on either HTTP version. */
export type EdgeResponse = Http2ServerResponse;

/** Why a body could not be read. */
export class BodyError extends Error {
  override readonly name = "BodyError";
  constructor(
    message: string,
    readonly kind: "too-large" | "timeout" | "aborted",
  ) {
    super(message);
  }
}

/**
 * Reads a whole request body, refusing more than `maxBytes` (as soon as the
 * Content-Length or the bytes read say so) or a body not complete within
 * `timeoutMs` (a client trickling bytes must not hold a call slot for ever).
 */
export function readBody(request: EdgeRequest, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(new BodyError(`request body of ${declared} bytes is larger than the limit of ${maxBytes}`, "too-large"));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: BodyError | undefined): void => {
      clearTimeout(timer);
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("aborted", onAborted);
      request.off("error", onAborted);
      if (error !== undefined) {
        // Stop reading: nothing more of this body is wanted.
        request.pause();
        reject(error);
      } else {
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > maxBytes) return finish(new BodyError(`request body is larger than the limit of ${maxBytes} bytes`, "too-large"));
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onAborted = (): void => finish(new BodyError("the client went away while sending the request", "aborted"));
    const timer = setTimeout(() => finish(new BodyError(`the request body did not arrive within ${timeoutMs} ms`, "timeout")), timeoutMs);
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("aborted", onAborted);
    request.on("error", onAborted);
  });
}

// Request headers that are not gRPC metadata: hop-by-hop, framing, the browser's
// own, and the protocols' (read by the edge, re-made by the kit's client).
const NOT_METADATA = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
  "content-type",
  "content-length",
  "content-encoding",
  "accept",
  "accept-encoding",
  "accept-language",
  "user-agent",
  "x-user-agent",
  "x-grpc-web",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "origin",
  "referer",
  "cookie",
  "authorization-bin",
  "pragma",
  "cache-control",
  "priority",
  "dnt",
]);

/** At most this many metadata entries go to a backend; more is a bad request. */
export const MAX_FORWARDED_HEADERS = 64;

/**
 * The caller's headers that travel to the backend as gRPC metadata: custom
 * headers, `authorization`, `traceparent`/`tracestate`, `x-request-id`; not
 * the browser's own (`cookie`, `origin`, `sec-*`), framing, or the protocols'.
 */
export function forwardedHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  let count = 0;
  for (const name in headers) {
    if (
      name.charCodeAt(0) === 58 /* ":" */ ||
      NOT_METADATA.has(name) ||
      name.startsWith("sec-") ||
      name.startsWith("connect-") ||
      name.startsWith("access-control-")
    )
      continue;
    // grpc-js rejects reserved names and keys that are not lower-case tokens.
    if (name.startsWith("grpc-") || !/^[a-z0-9_.-]+$/.test(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (++count > MAX_FORWARDED_HEADERS) break;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}

const UNITS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * A `grpc-timeout` value in milliseconds (gRPC spec: up to 8 digits and a
 * unit), capped at `maxMs`; undefined when absent; NaN when malformed.
 */
export function parseGrpcTimeout(value: string | string[] | undefined, maxMs: number): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(Array.isArray(value) ? (value[0] ?? "") : value);
  if (match === null) return Number.NaN;
  return Math.min(maxMs, Math.ceil(Number(match[1]) * UNITS[match[2]!]!));
}

/** A `connect-timeout-ms` value (up to 10 digits), capped at `maxMs`; undefined when absent; NaN when malformed. */
export function parseConnectTimeout(value: string | string[] | undefined, maxMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? (value[0] ?? "") : value;
  if (!/^\d{1,10}$/.test(text)) return Number.NaN;
  return Math.min(maxMs, Number(text));
}

/** The media type of a Content-Type, lower-cased, without parameters. */
export function mediaType(value: string | undefined): string {
  if (value === undefined) return "";
  const semi = value.indexOf(";");
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/**
 * Writes `chunk` and resolves once the client has taken it (at once, or on
 * 'drain'), false when the response closed first or `stallMs` passed without
 * the client reading: a browser that does not read makes the edge stop pulling
 * from the backend instead of buffering.
 */
export function writeWithBackpressure(
  response: EdgeResponse,
  chunk: Uint8Array,
  stallMs: number,
): Promise<"written" | "closed" | "stalled"> {
  if (response.destroyed || response.writableEnded) return Promise.resolve("closed");
  if (response.write(chunk)) return Promise.resolve("written");
  return new Promise((resolve) => {
    const done = (outcome: "written" | "closed" | "stalled"): void => {
      clearTimeout(timer);
      response.off("drain", onDrain);
      response.off("close", onClose);
      resolve(outcome);
    };
    const onDrain = (): void => done("written");
    const onClose = (): void => done("closed");
    const timer = setTimeout(() => done("stalled"), stallMs);
    response.on("drain", onDrain);
    response.on("close", onClose);
  });
}

import type { DescMethod } from "@bufbuild/protobuf";
import { Code, codeName } from "@trellis/kit/errors";
import type { CallFailure } from "./backends.js";
import { gateRefusalMessage } from "./call-gate.js";
import { callOptionsFor, isRefusal, relayStream, resolveMethod, type EdgeContext, type Refusal } from "./edge-context.js";
import { encodeEnvelope, EnvelopeError, FLAG_COMPRESSED, FLAG_GRPC_WEB_TRAILERS, parseEnvelopes } from "./envelope.js";
import { decodeGrpcWebText } from "./grpc-web-text.js";
import { BodyError, parseGrpcTimeout, readBody, type EdgeRequest, type EdgeResponse } from "./http-io.js";
import { parseJson, type JsonCodec } from "./json-codec.js";

/**
 * The gRPC-Web request encodings: binary protobuf (`application/grpc-web`,
 * `+proto`), base64 text (`application/grpc-web-text`), and JSON messages
 * (`application/grpc-web+json`, Connect-ES' gRPC-Web transport with
 * `useBinaryFormat: false`), which the edge converts with the proto3 JSON mapping.
 */
export type GrpcWebFormat = "binary" | "text" | "json";

// A binary gRPC-Web media type in an Accept list.
const ACCEPTS_BINARY = /application\/grpc-web(\+proto)?\s*(,|;|$)/i;

/**
 * Whether the response is base64 text: when the client's Accept asks for
 * application/grpc-web-text (as Envoy decides), and also for a text request
 * whose Accept names no binary gRPC-Web type (Envoy answers that one in
 * binary, which a client that can only send text usually cannot read).
 */
export function wantsTextResponse(format: GrpcWebFormat, accept: string | undefined): boolean {
  const value = accept ?? "";
  if (value.toLowerCase().includes("application/grpc-web-text")) return true;
  return format === "text" && !ACCEPTS_BINARY.test(value);
}

/**
 * Serves one gRPC-Web call (the gRPC-Web protocol, PROTOCOL-WEB.md): the
 * request's one message goes to the backend as bytes, the response messages
 * come back framed, and the status ends the body as a trailers frame (bit 7).
 * A call that fails before any message is answered trailers-only, with the
 * status in the response headers as Envoy's grpc_web filter answers it.
 * A text response ({@link wantsTextResponse}) is base64 of the same bytes,
 * each frame encoded on its own so a stream's message reaches the browser
 * without waiting for the next one. JSON messages are converted with `codec`;
 * binary ones are forwarded as they are.
 */
export async function serveGrpcWeb(
  context: EdgeContext,
  codec: JsonCodec,
  request: EdgeRequest,
  response: EdgeResponse,
  path: string,
  format: GrpcWebFormat,
): Promise<void> {
  const protocol = format === "binary" ? "grpc-web" : `grpc-web-${format}`;
  const textResponse = format !== "json" && wantsTextResponse(format, request.headers.accept);
  const contentType =
    format === "json" ? "application/grpc-web+json" : textResponse ? "application/grpc-web-text+proto" : "application/grpc-web+proto";
  const encode = textResponse
    ? (bytes: Uint8Array): Uint8Array => Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"))
    : (bytes: Uint8Array): Uint8Array => bytes;
  const refuse = (refusal: Refusal): void => {
    context.metrics.refused(protocol, refusal.reason);
    trailersOnly(response, contentType, {
      code: refusal.code,
      message: refusal.message,
      details: undefined,
      header: new Headers(),
      trailer: new Headers(),
    });
  };
  const resolved = resolveMethod(context, path);
  if (isRefusal(resolved)) return refuse(resolved);
  const method: DescMethod = resolved;
  const timeoutMs = parseGrpcTimeout(request.headers["grpc-timeout"], context.limits.maxTimeoutMs);
  if (Number.isNaN(timeoutMs)) {
    return refuse({
      code: Code.INVALID_ARGUMENT,
      message: `malformed grpc-timeout "${String(request.headers["grpc-timeout"])}": expected up to 8 digits and a unit (H, M, S, m, u, n)`,
      reason: "malformed",
    });
  }
  const stream = method.methodKind === "server_streaming";
  const admitted = context.gate.enter(stream);
  if (admitted !== "ok") {
    return refuse({
      code: Code.RESOURCE_EXHAUSTED,
      message: gateRefusalMessage(admitted),
      reason: admitted,
    });
  }
  try {
    let message: Uint8Array;
    try {
      const body = await readBody(
        request,
        format === "text" ? Math.ceil((context.limits.maxBodyBytes * 4) / 3) + 4 : context.limits.maxBodyBytes,
        context.limits.bodyTimeoutMs,
      );
      const bytes = format === "text" ? decodeGrpcWebText(body.toString("latin1")) : body;
      const frames = parseEnvelopes(bytes, context.limits.maxBodyBytes);
      if (frames.length !== 1)
        throw new EnvelopeError(`a ${method.methodKind} call takes exactly one request message; the body holds ${frames.length}`, false);
      if ((frames[0]!.flags & FLAG_COMPRESSED) !== 0) {
        return refuse({
          code: Code.UNIMPLEMENTED,
          message: "compressed request messages are not supported by the edge; send them uncompressed (grpc-encoding identity)",
          reason: "compressed_unsupported",
        });
      }
      if (frames[0]!.flags !== 0) throw new EnvelopeError(`unexpected frame flags 0x${frames[0]!.flags.toString(16)} in a request`, false);
      message = format === "json" ? codec.encode(method.input, parseJson(frames[0]!.data)) : frames[0]!.data;
    } catch (error) {
      if (error instanceof BodyError) {
        if (error.kind === "aborted") return;
        return refuse(
          error.kind === "too-large"
            ? { code: Code.RESOURCE_EXHAUSTED, message: error.message, reason: "body_too_large" }
            : { code: Code.DEADLINE_EXCEEDED, message: error.message, reason: "body_timeout" },
        );
      }
      if (error instanceof EnvelopeError && error.tooLarge)
        return refuse({ code: Code.RESOURCE_EXHAUSTED, message: error.message, reason: "body_too_large" });
      return refuse({
        code: Code.INVALID_ARGUMENT,
        message: `malformed gRPC-Web request: ${(error as Error).message}`,
        reason: "malformed",
      });
    }
    const options = callOptionsFor(request, response, timeoutMs);
    const payload =
      format === "json"
        ? (bytes: Uint8Array): Uint8Array => Buffer.from(JSON.stringify(codec.decode(method.output, bytes)))
        : (bytes: Uint8Array): Uint8Array => bytes;
    if (!stream) {
      const outcome = await context.backends.unary(method, message, options);
      if (!outcome.ok) {
        context.metrics.handled(protocol, codeName(outcome.failure.code));
        return trailersOnly(response, contentType, outcome.failure);
      }
      context.metrics.handled(protocol, "OK");
      if (response.destroyed) return;
      response.writeHead(200, { ...headerRecord(outcome.header), "content-type": contentType });
      const reply = encodeEnvelope(0, payload(outcome.message));
      const status = trailerFrame(Code.OK, "", undefined, outcome.trailer);
      // Text: each frame is its own base64 run (padding between them), as Envoy writes it.
      response.end(textResponse ? Buffer.concat([encode(reply), encode(status)]) : Buffer.concat([reply, status]));
      return;
    }
    const call = context.backends.serverStream(method, message, options);
    let headersSent = false;
    const ended = await relayStream(
      context,
      protocol,
      call,
      response,
      (m) => encode(encodeEnvelope(0, payload(m))),
      () => {
        if (call.failure !== undefined) return; // nothing sent yet: the failure goes trailers-only
        headersSent = true;
        response.writeHead(200, { ...headerRecord(call.header()), "content-type": contentType });
      },
      true,
    );
    if (ended !== "ended") {
      context.metrics.handled(protocol, ended === "stalled" ? "RESOURCE_EXHAUSTED" : "CANCELLED");
      if (ended === "stalled") {
        response.end(
          encode(
            trailerFrame(
              Code.RESOURCE_EXHAUSTED,
              `the client did not read the response stream for ${context.limits.writeStallMs} ms`,
              undefined,
              new Headers(),
            ),
          ),
        );
      }
      return;
    }
    const failure = call.failure;
    context.metrics.handled(protocol, failure === undefined ? "OK" : codeName(failure.code));
    if (!headersSent)
      return trailersOnly(
        response,
        contentType,
        failure ?? { code: Code.OK, message: "", details: undefined, header: call.header(), trailer: call.trailer() },
      );
    response.end(
      encode(
        failure === undefined
          ? trailerFrame(Code.OK, "", undefined, call.trailer())
          : trailerFrame(failure.code, failure.message, failure.details, failure.trailer),
      ),
    );
  } finally {
    context.gate.leave(stream);
  }
}

/** A response with no message: the status in the HTTP headers (gRPC's trailers-only form). */
function trailersOnly(response: EdgeResponse, contentType: string, failure: CallFailure): void {
  if (response.destroyed || response.headersSent) {
    if (!response.writableEnded) response.end();
    return;
  }
  response.writeHead(200, {
    ...headerRecord(failure.header),
    ...headerRecord(failure.trailer),
    "content-type": contentType,
    "grpc-status": String(failure.code),
    ...(failure.message === "" ? {} : { "grpc-message": encodeGrpcMessage(failure.message) }),
    ...(failure.details === undefined ? {} : { "grpc-status-details-bin": Buffer.from(failure.details).toString("base64") }),
  });
  response.end();
}

/** The body's last frame: the status and trailers as HTTP/1 header lines (PROTOCOL-WEB.md). */
export function trailerFrame(code: Code, message: string, details: Uint8Array | undefined, trailer: Headers): Buffer {
  let text = `grpc-status:${code}\r\n`;
  if (message !== "") text += `grpc-message:${encodeGrpcMessage(message)}\r\n`;
  if (details !== undefined) text += `grpc-status-details-bin:${Buffer.from(details).toString("base64")}\r\n`;
  trailer.forEach((value, name) => (text += `${name}:${value}\r\n`));
  return encodeEnvelope(FLAG_GRPC_WEB_TRAILERS, Buffer.from(text, "latin1"));
}

/**
 * grpc-message as grpc-js writes it (encodeURI of the text), so a status
 * crosses the edge byte for byte as it left the backend.
 */
export function encodeGrpcMessage(message: string): string {
  try {
    return encodeURI(message);
  } catch {
    // A lone surrogate (encodeURI throws): as U+FFFD, the way TextEncoder writes it.
    return encodeURI(message.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD"));
  }
}

// Backend response headers that describe the backend's own HTTP/2 response, not the call.
const NOT_RELAYED = new Set([
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "content-type",
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "date",
  "server",
  "grpc-encoding",
  "grpc-accept-encoding",
  "trailer",
  "te",
]);

/** Backend metadata as a record for writeHead (-bin values as they came, base64), without the backend's HTTP framing headers. */
export function headerRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!NOT_RELAYED.has(name)) out[name] = value;
  });
  return out;
}

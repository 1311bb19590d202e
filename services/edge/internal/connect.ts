import type { DescMethod, JsonValue } from "@bufbuild/protobuf";
import { Code, codeName } from "@trellis/kit/errors";
import type { CallFailure } from "./backends.js";
import { gateRefusalMessage } from "./call-gate.js";
import { callOptionsFor, isRefusal, relayStream, resolveMethod, type EdgeContext, type Refusal } from "./edge-context.js";
import { encodeEnvelope, EnvelopeError, FLAG_COMPRESSED, FLAG_CONNECT_END, parseEnvelopes } from "./envelope.js";
import { headerRecord } from "./grpc-web.js";
import { BodyError, mediaType, parseConnectTimeout, readBody, type EdgeRequest, type EdgeResponse } from "./http-io.js";
import { parseJson, type JsonCodec } from "./json-codec.js";
import { connectCodeName, httpStatusOf } from "./status-codes.js";

/** How a Connect request was sent. */
export interface ConnectRequestKind {
  /** Message codec: binary protobuf or JSON. */
  readonly codec: "proto" | "json";
  /** true: `application/connect+…` (a streaming call, enveloped); false: unary. */
  readonly streaming: boolean;
}

/** The Connect kind of a Content-Type, or undefined when it is not Connect's. */
export function connectKindOf(contentType: string): ConnectRequestKind | undefined {
  switch (mediaType(contentType)) {
    case "application/proto":
      return { codec: "proto", streaming: false };
    case "application/json":
      return { codec: "json", streaming: false };
    case "application/connect+proto":
      return { codec: "proto", streaming: true };
    case "application/connect+json":
      return { codec: "json", streaming: true };
    default:
      return undefined;
  }
}

/**
 * Serves one Connect protocol call (connectrpc.com/docs/protocol): unary
 * POST (and GET for side-effect-free methods) with a bare message,
 * server streaming with enveloped messages and an end-of-stream JSON.
 * Binary messages go to the backend as they are; JSON is decoded and encoded
 * with protobuf-es' JSON mapping.
 */
export async function serveConnect(
  context: EdgeContext,
  codec: JsonCodec,
  request: EdgeRequest,
  response: EdgeResponse,
  path: string,
  kind: ConnectRequestKind,
  query: URLSearchParams | undefined,
): Promise<void> {
  const protocol = "connect";
  const refuse = (refusal: Refusal): void => {
    context.metrics.refused(protocol, refusal.reason);
    sendError(response, codec, kind, {
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
  const stream = method.methodKind === "server_streaming";
  if (stream !== kind.streaming) {
    return refuse({
      code: Code.INVALID_ARGUMENT,
      message: stream
        ? `${path} is server-streaming: send it as application/connect+proto or application/connect+json`
        : `${path} is unary: send it as application/proto or application/json`,
      reason: "unsupported_media_type",
    });
  }
  if (query !== undefined && method.idempotency !== 1 /* NO_SIDE_EFFECTS */) {
    return refuse({
      code: Code.INVALID_ARGUMENT,
      message: `${path} has side effects: call it with POST, not GET`,
      reason: "method_not_allowed",
    });
  }
  const encoding =
    (stream ? request.headers["connect-content-encoding"] : request.headers["content-encoding"]) ?? query?.get("compression") ?? "identity";
  if (encoding !== "identity") {
    return refuse({
      code: Code.UNIMPLEMENTED,
      message: `compression "${String(encoding)}" is not supported by the edge; send identity`,
      reason: "compressed_unsupported",
    });
  }
  const timeoutMs = parseConnectTimeout(request.headers["connect-timeout-ms"], context.limits.maxTimeoutMs);
  if (Number.isNaN(timeoutMs))
    return refuse({
      code: Code.INVALID_ARGUMENT,
      message: `malformed connect-timeout-ms "${String(request.headers["connect-timeout-ms"])}"`,
      reason: "malformed",
    });
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
      const body =
        query === undefined
          ? await readBody(request, context.limits.maxBodyBytes, context.limits.bodyTimeoutMs)
          : messageOfQuery(query, context.limits.maxBodyBytes);
      let payload: Uint8Array = body;
      if (stream) {
        const frames = parseEnvelopes(body, context.limits.maxBodyBytes);
        if (frames.length !== 1)
          throw new EnvelopeError(`a server-streaming call takes exactly one request message; the body holds ${frames.length}`, false);
        if ((frames[0]!.flags & FLAG_COMPRESSED) !== 0)
          throw new EnvelopeError("compressed request messages are not supported by the edge", false);
        payload = frames[0]!.data;
      }
      message = kind.codec === "json" ? codec.encode(method.input, parseJson(payload)) : payload;
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
        message: `malformed Connect request: ${(error as Error).message}`,
        reason: "malformed",
      });
    }
    const options = callOptionsFor(request, response, timeoutMs);
    const contentType = `application/${stream ? "connect+" : ""}${kind.codec}`;
    const encode = (bytes: Uint8Array): Uint8Array =>
      kind.codec === "json" ? Buffer.from(JSON.stringify(codec.decode(method.output, bytes))) : bytes;
    if (!stream) {
      const outcome = await context.backends.unary(method, message, options);
      if (!outcome.ok) {
        context.metrics.handled(protocol, codeName(outcome.failure.code));
        return sendError(response, codec, kind, outcome.failure);
      }
      context.metrics.handled(protocol, "OK");
      if (response.destroyed) return;
      const trailers: Record<string, string> = {};
      for (const [name, value] of Object.entries(headerRecord(outcome.trailer))) trailers[`trailer-${name}`] = value;
      response.writeHead(200, { ...headerRecord(outcome.header), ...trailers, "content-type": contentType });
      response.end(encode(outcome.message));
      return;
    }
    const call = context.backends.serverStream(method, message, options);
    const ended = await relayStream(
      context,
      protocol,
      call,
      response,
      (m) => encodeEnvelope(0, encode(m)),
      () => {
        response.writeHead(200, { ...headerRecord(call.header()), "content-type": contentType });
      },
      true,
    );
    if (ended === "closed") {
      context.metrics.handled(protocol, "CANCELLED");
      return;
    }
    const failure: CallFailure | undefined =
      ended === "stalled"
        ? {
            code: Code.RESOURCE_EXHAUSTED,
            message: `the client did not read the response stream for ${context.limits.writeStallMs} ms`,
            details: undefined,
            header: new Headers(),
            trailer: new Headers(),
          }
        : call.failure;
    context.metrics.handled(protocol, failure === undefined ? "OK" : codeName(failure.code));
    response.end(
      encodeEnvelope(FLAG_CONNECT_END, Buffer.from(JSON.stringify(endStream(codec, failure, failure?.trailer ?? call.trailer())))),
    );
  } finally {
    context.gate.leave(stream);
  }
}

/** A GET request's message (`?message=…&encoding=proto|json&base64=1`). */
function messageOfQuery(query: URLSearchParams, maxBytes: number): Uint8Array {
  const text = query.get("message") ?? "";
  if (text.length > maxBytes * 2) throw new BodyError(`request message is larger than the limit of ${maxBytes} bytes`, "too-large");
  if (query.get("base64") === "1") {
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new Error("the message parameter is not base64");
    return Buffer.from(text, "base64url");
  }
  return Buffer.from(text, "utf8");
}

/** A Connect error's JSON (the protocol's Error JSON: code name, message, details as type + unpadded base64 + debug JSON). */
export function connectErrorJson(codec: JsonCodec, failure: Pick<CallFailure, "code" | "message" | "details">): JsonValue {
  const details = codec.details(failure.details).map((d) => ({
    type: d.type,
    value: Buffer.from(d.value).toString("base64").replace(/=+$/, ""),
    ...(d.json === undefined ? {} : { debug: d.json }),
  }));
  return {
    code: connectCodeName(failure.code),
    ...(failure.message === "" ? {} : { message: failure.message }),
    ...(details.length === 0 ? {} : { details }),
  };
}

function endStream(codec: JsonCodec, failure: CallFailure | undefined, trailer: Headers): JsonValue {
  const metadata: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headerRecord(trailer))) metadata[name] = value.split(", ");
  return {
    ...(failure === undefined ? {} : { error: connectErrorJson(codec, failure) }),
    ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
  };
}

function sendError(response: EdgeResponse, codec: JsonCodec, kind: ConnectRequestKind, failure: CallFailure): void {
  if (response.destroyed || response.headersSent) {
    if (!response.writableEnded) response.end();
    return;
  }
  if (kind.streaming) {
    // A streaming call's error is in the end-of-stream message, under 200.
    response.writeHead(200, { ...headerRecord(failure.header), "content-type": `application/connect+${kind.codec}` });
    response.end(encodeEnvelope(FLAG_CONNECT_END, Buffer.from(JSON.stringify(endStream(codec, failure, failure.trailer)))));
    return;
  }
  const trailers: Record<string, string> = {};
  for (const [name, value] of Object.entries(headerRecord(failure.trailer))) trailers[`trailer-${name}`] = value;
  response.writeHead(httpStatusOf(failure.code), { ...headerRecord(failure.header), ...trailers, "content-type": "application/json" });
  response.end(JSON.stringify(connectErrorJson(codec, failure)));
}

import type { JsonValue } from "@bufbuild/protobuf";
import { gateRefusalMessage } from "../call-gate.js";
import { Code, codeName } from "@trellis/kit/errors";
import type { CallFailure } from "../backends.js";
import { callOptionsFor, relayStream, type EdgeContext } from "../edge-context.js";
import type { RefusalReason } from "../edge-metrics.js";
import { headerRecord } from "../grpc-web.js";
import { BodyError, parseGrpcTimeout, readBody, type EdgeRequest, type EdgeResponse } from "../http-io.js";
import { JsonCodecError, type JsonCodec } from "../json-codec.js";
import { httpStatusOf } from "../status-codes.js";
import { requestJson, RestRequestError, type RestRoutes } from "./http-rules.js";

const PROTOCOL = "rest";

/**
 * REST/JSON transcoding from google.api.http rules (the rules Envoy's
 * grpc_json_transcoder and grpc-gateway read): the request's path, query and
 * JSON body become the method's message, the response message becomes JSON,
 * a failure becomes google.rpc.Status JSON under the HTTP status
 * google/rpc/code.proto gives its code. A response stream is a JSON array
 * written message by message. Returns false when no rule matches the path (the
 * caller serves files there).
 */
export async function serveRest(
  context: EdgeContext,
  codec: JsonCodec,
  routes: RestRoutes,
  request: EdgeRequest,
  response: EdgeResponse,
  path: string,
  query: URLSearchParams,
): Promise<boolean> {
  const httpMethod = request.method ?? "GET";
  const found = routes.match(httpMethod, path);
  if (found.kind === "none") return false;
  const refuse = (status: number, code: Code, message: string, reason: RefusalReason, headers: Record<string, string> = {}): true => {
    context.metrics.refused(PROTOCOL, reason);
    sendStatus(response, codec, status, { code, message, details: undefined, header: new Headers(), trailer: new Headers() }, headers);
    return true;
  };
  if (found.kind === "wrong-method") {
    return refuse(
      405,
      Code.UNIMPLEMENTED,
      `${httpMethod} is not allowed on ${path}; it allows ${found.allowed.join(", ")}`,
      "method_not_allowed",
      { allow: found.allowed.join(", ") },
    );
  }
  const { binding, variables } = found;
  const method = binding.method;
  const stream = method.methodKind === "server_streaming";
  if (method.methodKind !== "unary" && !stream)
    return refuse(501, Code.UNIMPLEMENTED, `${path} streams requests, which REST cannot carry`, "client_stream_unsupported");
  const timeoutMs = parseGrpcTimeout(request.headers["grpc-timeout"], context.limits.maxTimeoutMs);
  if (Number.isNaN(timeoutMs))
    return refuse(400, Code.INVALID_ARGUMENT, `malformed grpc-timeout "${String(request.headers["grpc-timeout"])}"`, "malformed");
  const admitted = context.gate.enter(stream);
  if (admitted !== "ok") return refuse(429, Code.RESOURCE_EXHAUSTED, gateRefusalMessage(admitted), admitted);
  try {
    let message: Uint8Array;
    try {
      const raw = await readBody(request, context.limits.maxBodyBytes, context.limits.bodyTimeoutMs);
      let body: JsonValue | undefined;
      if (raw.byteLength > 0) {
        // Any Content-Type is read as JSON (curl -d sends form-urlencoded), as Envoy's transcoder does.
        try {
          body = JSON.parse(raw.toString("utf8")) as JsonValue;
        } catch (error) {
          throw new RestRequestError(`the body is not JSON: ${(error as Error).message}`);
        }
      }
      message = codec.encode(method.input, requestJson(binding, variables, query, body));
    } catch (error) {
      if (error instanceof BodyError) {
        if (error.kind === "aborted") return true;
        return error.kind === "too-large"
          ? refuse(413, Code.RESOURCE_EXHAUSTED, error.message, "body_too_large")
          : refuse(408, Code.DEADLINE_EXCEEDED, error.message, "body_timeout");
      }
      if (error instanceof RestRequestError || error instanceof JsonCodecError)
        return refuse(400, Code.INVALID_ARGUMENT, error.message, "malformed");
      throw error;
    }
    const options = callOptionsFor(request, response, timeoutMs);
    const toJson = (bytes: Uint8Array): JsonValue => {
      const json = codec.decode(method.output, bytes);
      if (binding.responseBody === "") return json;
      const field = method.output.fields.find((f) => f.name === binding.responseBody);
      return (json as Record<string, JsonValue>)[field?.jsonName ?? binding.responseBody] ?? null;
    };
    if (!stream) {
      const outcome = await context.backends.unary(method, message, options);
      if (!outcome.ok) {
        context.metrics.handled(PROTOCOL, codeName(outcome.failure.code));
        sendStatus(response, codec, httpStatusOf(outcome.failure.code), outcome.failure);
        return true;
      }
      context.metrics.handled(PROTOCOL, "OK");
      if (response.destroyed) return true;
      response.writeHead(200, { ...headerRecord(outcome.header), ...headerRecord(outcome.trailer), "content-type": "application/json" });
      response.end(JSON.stringify(toJson(outcome.message)));
      return true;
    }
    const call = context.backends.serverStream(method, message, options);
    let first = true;
    let headersSent = false;
    const ended = await relayStream(
      context,
      PROTOCOL,
      call,
      response,
      (m) => {
        const text = (first ? "[" : ",") + JSON.stringify(toJson(m));
        first = false;
        return Buffer.from(text);
      },
      () => {
        if (call.failure !== undefined) return;
        headersSent = true;
        response.writeHead(200, { ...headerRecord(call.header()), "content-type": "application/json" });
      },
    );
    const failure: CallFailure | undefined = ended === "stalled" ? undefined : call.failure;
    context.metrics.handled(
      PROTOCOL,
      ended === "closed" ? "CANCELLED" : ended === "stalled" ? "RESOURCE_EXHAUSTED" : failure === undefined ? "OK" : codeName(failure.code),
    );
    if (ended !== "ended") {
      response.destroy();
      return true;
    }
    if (!headersSent) {
      if (failure !== undefined) sendStatus(response, codec, httpStatusOf(failure.code), failure);
      else {
        response.writeHead(200, { "content-type": "application/json" });
        response.end("[]");
      }
      return true;
    }
    if (failure !== undefined) {
      // Mid-stream, the status line is gone: end the response incomplete (no closing "]") so the client sees a failure.
      context.logger.info(
        { "rpc.grpc.status_code": failure.code, "url.path": path },
        `REST stream ended with ${codeName(failure.code)}: ${failure.message}`,
      );
      response.destroy();
      return true;
    }
    response.end(first ? "[]" : "]");
    return true;
  } finally {
    context.gate.leave(stream);
  }
}

/** A google.rpc.Status JSON body under `status`. */
export function sendStatus(
  response: EdgeResponse,
  codec: JsonCodec,
  status: number,
  failure: CallFailure,
  headers: Record<string, string> = {},
): void {
  if (response.destroyed || response.headersSent) {
    if (!response.writableEnded) response.end();
    return;
  }
  response.writeHead(status, {
    ...headerRecord(failure.header),
    ...headerRecord(failure.trailer),
    ...headers,
    "content-type": "application/json",
  });
  response.end(JSON.stringify(codec.status(failure.code, failure.message, failure.details)));
}

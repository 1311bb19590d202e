import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger } from "@trellis/kit";
import type { Backends, BackendCallOptions, CallFailure, StreamCall } from "./backends.js";
import type { CallGate } from "./call-gate.js";
import type { EdgeMetrics, RefusalReason } from "./edge-metrics.js";
import { forwardedHeaders, writeWithBackpressure, type EdgeRequest, type EdgeResponse } from "./http-io.js";
import { Code } from "@trellis/kit/errors";

/** What every protocol handler of the edge shares. */
export interface EdgeContext {
  readonly backends: Backends;
  readonly gate: CallGate;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly bodyTimeoutMs: number;
    readonly writeStallMs: number;
    readonly maxTimeoutMs: number;
  };
}

/** A refusal: answered by the edge itself, counted, never reaching a backend. */
export interface Refusal {
  readonly code: Code;
  readonly message: string;
  readonly reason: RefusalReason;
  /** The HTTP status where the protocol answers with one (REST, Connect unary, plain HTTP errors). */
  readonly httpStatus?: number;
}

/** The backend call options of a request: its forwarded headers, deadline, and a signal fired when the client goes away. */
export function callOptionsFor(
  request: EdgeRequest,
  response: EdgeResponse,
  timeoutMs: number | undefined,
): BackendCallOptions & { readonly abort: AbortController } {
  const abort = new AbortController();
  const onClose = (): void => {
    // The response closed before the edge ended it: the client went away (an HTTP/1.1 socket
    // closed, an HTTP/2 stream reset or its connection gone). Not writableFinished: node:http2's
    // compatibility response reports a reset stream as finished.
    if (!response.writableEnded) abort.abort();
  };
  response.once("close", onClose);
  return { headers: forwardedHeaders(request.headers), timeoutMs, signal: abort.signal, abort };
}

/**
 * Relays a response stream: pulls one message, writes it, and pulls the next
 * only once the client has taken it. A client that stops reading for
 * `writeStallMs` ends the call (the backend call is cancelled); one that goes
 * away cancels it at once. Resolves with how the stream ended.
 * `onFirst` writes the response head: when the backend's headers arrive, if
 * `early` (and then they are sent at once: a quiet stream tells the browser it
 * is set up, as Envoy forwards them), else with the first message or the end.
 */
export async function relayStream(
  context: EdgeContext,
  protocol: string,
  call: StreamCall,
  response: EdgeResponse,
  frame: (message: Uint8Array) => Uint8Array,
  onFirst: () => void,
  early = false,
): Promise<"ended" | "closed" | "stalled"> {
  let first = true;
  if (early) {
    call.whenHeader(() => {
      if (!first || response.destroyed) return;
      first = false;
      onFirst();
      // HTTP/1.1 holds a head until the first body bytes; an HTTP/2 response sends it on writeHead.
      (response as { flushHeaders?: () => void }).flushHeaders?.();
    });
  }
  for (;;) {
    const message = await call.next();
    if (first) {
      first = false;
      if (response.destroyed) {
        call.cancel();
        return "closed";
      }
      onFirst();
    }
    if (message === undefined) return "ended";
    const outcome = await writeWithBackpressure(response, frame(message), context.limits.writeStallMs);
    if (outcome !== "written") {
      call.cancel();
      if (outcome === "stalled") context.metrics.stalled(protocol);
      return outcome;
    }
  }
}

/** The method of a `/<package.Service>/<Method>` path, or a refusal naming what is unknown. */
export function resolveMethod(context: EdgeContext, path: string): DescMethod | Refusal {
  const method = context.backends.method(path);
  if (method !== undefined) {
    if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming") {
      return {
        code: Code.UNIMPLEMENTED,
        message: `${path} streams requests: the edge serves unary and server-streaming methods only (browsers cannot stream requests)`,
        reason: "client_stream_unsupported",
      };
    }
    return method;
  }
  const service = /^\/([^/]+)\//.exec(path)?.[1];
  const known = service !== undefined && context.backends.service(service) !== undefined;
  return {
    code: Code.UNIMPLEMENTED,
    message: known
      ? `unknown method ${path}`
      : `unknown service ${service ?? path}: the edge routes ${context.backends.services.map((s) => s.typeName).join(", ")}`,
    reason: "unknown_route",
  };
}

/** Whether a resolveMethod result is a refusal. */
export function isRefusal(value: DescMethod | Refusal): value is Refusal {
  return "reason" in value;
}

/** A failure for logging and counting: its code name. */
export type { CallFailure };

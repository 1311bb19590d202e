import { randomUUID } from "node:crypto";
import { constants as http2 } from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import type { MessageData } from "../call/interceptor.js";
import * as grpc from "@grpc/grpc-js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { boundStatus, STATUS_DETAILS_KEY } from "../errors/status-details.js";
import { requestInfo } from "../errors/error-details.js";
import { INTERNAL_ERROR_MESSAGE } from "../errors/to-rpc-error.js";
import type { Logger } from "../observability/logger.js";
import type { CallContext } from "../call/call-context.js";
import { createContextValues, type ContextValues } from "../call/context-values.js";
import { headersFromMetadata, metadataFromHeaders, metadataHeader, READ_REQUEST_HEADER } from "../call/headers.js";
import type { CallTracker, TrackedCall } from "./call-tracker.js";
import { http2StreamOf } from "./grpc-internals.js";
import { peerIdentityKey, type PeerIdentity } from "../security/spiffe-id.js";

/** A grpc-js call of any of the four kinds. */
export type AnyGrpcCall =
  | grpc.ServerUnaryCall<Buffer, Buffer>
  | grpc.ServerReadableStream<Buffer, Buffer>
  | grpc.ServerWritableStream<Buffer, Buffer>
  | grpc.ServerDuplexStream<Buffer, Buffer>;

/** What a call needs from its server. */
export interface ServerCallOptions {
  readonly logger: Logger;
  readonly calls: CallTracker;
  /** Server-side cap on unary and client-streaming calls; 0 disables. */
  readonly maxCallMs: number;
  /** A response stream whose writes stay blocked this long ends with RESOURCE_EXHAUSTED; 0 disables. */
  readonly maxWriteStallMs: number;
  /** @default crypto.randomUUID */
  readonly newRequestId?: () => string;
  /** The server's clock, epoch milliseconds. */
  readonly now: () => number;
  /** The verified mTLS identity of a call's client (TLS servers only), put in its values as `peerIdentityKey`. */
  readonly peerIdentity?: (call: object) => PeerIdentity | undefined;
}

const REQUEST_ID_KEY = "x-request-id";
const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;
/**
 * grpc-js' deadline timer runs on libuv's loop clock, which lags Date.now() by
 * as long as the loop turn that read the headers had run, so it can fire a few
 * milliseconds before the deadline it reports: a cancel that close to the
 * deadline is the deadline. It is also how long after the client's deadline
 * the sweep (every 250 ms) looks for a response stream still open on the wire.
 */
const DEADLINE_TIMER_SLACK_MS = 20;

/**
 * One call in progress: the CallContext its interceptors and handler see, its
 * entry in the server's call tracker, and its once-only completion.
 *
 * One object per call with every part made on first use, because most calls
 * never touch most of it: profiling showed per-call allocation (closures, an
 * AbortController, a child logger, a timer) dominating the chain's cost. Even
 * the client-cancel listener waits until someone reads `signal`. No timer of
 * ours runs per call: grpc-js cancels a call at the client's deadline (we turn
 * that into the signal's reason), and the server's own cap on single-response
 * calls is enforced by the tracker's sweep.
 */
export class ServerCall implements CallContext, TrackedCall {
  readonly side = "server";
  readonly method: DescMethod;
  readonly deadline: number | undefined;
  readonly expiresAt: number | undefined;
  readonly #call: AnyGrpcCall;
  readonly #options: ServerCallOptions;
  readonly #clientDeadline: number | undefined;
  readonly #responseStream: boolean;
  #controller: AbortController | undefined;
  #abortReason: RpcError | undefined;
  #requestId: string | undefined;
  #logger: Logger | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #values: ContextValues | undefined;
  #headerSent = false;
  #callback: grpc.sendUnaryData<MessageData> | undefined;
  #onCancelled: (() => void) | undefined;
  #ended = false;

  constructor(call: AnyGrpcCall, method: DescMethod, options: ServerCallOptions) {
    this.method = method;
    this.#call = call;
    this.#options = options;
    this.#clientDeadline = deadlineMs(call.getDeadline());
    const singleResponse = method.methodKind === "unary" || method.methodKind === "client_streaming";
    this.#responseStream = !singleResponse;
    const cap = singleResponse && options.maxCallMs > 0 ? options.now() + options.maxCallMs : undefined;
    const client = this.#clientDeadline;
    this.deadline = client === undefined ? cap : cap === undefined ? client : Math.min(client, cap);
    // grpc-js ends a call at the client's deadline, but a response stream's
    // status can wait behind writes the client is not reading, or never leave
    // (see expire): the sweep then ends it, and resets the stream, a little
    // after grpc-js should have — even once the call itself has ended.
    this.expiresAt = singleResponse ? cap : client === undefined ? undefined : client + DEADLINE_TIMER_SLACK_MS;
    options.calls.add(this);
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= headersFromMetadata(this.#call.metadata));
  }

  [READ_REQUEST_HEADER](name: string): string | undefined {
    return this.#requestHeader === undefined
      ? metadataHeader(this.#call.metadata, name.toLowerCase())
      : (this.#requestHeader.get(name) ?? undefined);
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  get values(): ContextValues {
    if (this.#values === undefined) {
      this.#values = createContextValues();
      // Read on first use: calls whose chain never looks at values pay nothing for it.
      const identity = this.#options.peerIdentity?.(this.#call);
      if (identity !== undefined) this.#values.set(peerIdentityKey, identity);
    }
    return this.#values;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
      else if (this.#call.cancelled) this.#cancelledByClient();
      else if (!this.#ended) {
        this.#onCancelled = () => this.#cancelledByClient();
        (this.#call as NodeJS.EventEmitter).once("cancelled", this.#onCancelled);
      }
    }
    return this.#controller.signal;
  }

  get requestId(): string {
    return (this.#requestId ??= readRequestId(this.#call.metadata) ?? (this.#options.newRequestId ?? randomUUID)());
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get logger(): Logger {
    return (this.#logger ??= this.#options.logger.child({
      "rpc.method": `${this.method.parent.typeName}/${this.method.name}`,
      "http.request.id": this.requestId,
      "client.address": this.peer,
    }));
  }

  /**
   * Sends the response headers set so far, once: before the first response
   * message, or earlier when a handler asks (see CallContext.sendHeader; then
   * empty ones too, which grpc-js would otherwise only send with the first
   * message). After this, changes to `responseHeader` are not sent.
   */
  readonly sendHeader = (): void => {
    if (this.#headerSent || this.#call.cancelled) return;
    this.#headerSent = true;
    (this.#call as { sendMetadata(m: grpc.Metadata): void }).sendMetadata(
      this.#responseHeader === undefined ? new grpc.Metadata() : metadataFromHeaders(this.#responseHeader),
    );
  };

  /**
   * The trailers to send with the status: `responseTrailer`, and the response
   * headers too when none were sent (a trailers-only response carries both).
   */
  trailerMetadata(): grpc.Metadata | undefined {
    if (this.#responseTrailer === undefined && (this.#headerSent || this.#responseHeader === undefined)) return undefined;
    const metadata = new grpc.Metadata();
    if (!this.#headerSent && this.#responseHeader !== undefined) metadataFromHeaders(this.#responseHeader, metadata);
    if (this.#responseTrailer !== undefined) metadataFromHeaders(this.#responseTrailer, metadata);
    return metadata;
  }

  /** Aborts the call's signal (first reason wins); the tracker calls this on shutdown. */
  abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason instanceof RpcError ? reason : new RpcError(Code.CANCELLED, String(reason));
    this.#controller?.abort(this.#abortReason);
  }

  /**
   * Ends the call because its time limit (the server's cap or the client's
   * deadline) ran out. A response stream still open on the wire is reset as
   * well: grpc-js sent its DEADLINE_EXCEEDED at the deadline, but that status
   * waits behind writes the client has not read, or never leaves at all —
   * grpc-js ends the HTTP/2 stream while a write is in flight and then hands
   * it the next queued message, and Node, on that write after end, marks the
   * stream errored and never sends END_STREAM or the trailers. The client's
   * deadline has passed, so a reset costs it nothing it could still use.
   */
  expire(): void {
    const clientFirst = this.#clientDeadline !== undefined && this.#clientDeadline <= (this.deadline ?? Number.POSITIVE_INFINITY);
    const error = clientFirst
      ? new RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded")
      : new RpcError(Code.DEADLINE_EXCEEDED, `call exceeded the server's limit of ${this.#options.maxCallMs} ms`);
    if (!this.#ended) this.abort(error);
    if (this.#responseStream) this.resetStream(error);
    else this.respond(error, undefined);
  }

  get streamClosed(): boolean {
    const stream = http2StreamOf(this.#call);
    return stream === undefined || stream.closed || stream.destroyed;
  }

  /**
   * Waits until a blocked response stream can take writes again. "stalled"
   * (after maxWriteStallMs) has already ended the call with RESOURCE_EXHAUSTED.
   */
  waitForDrain(stream: NodeJS.EventEmitter): Promise<"drained" | "aborted" | "stalled"> {
    const signal = this.signal;
    if (signal.aborted) return Promise.resolve("aborted");
    const stallMs = this.#options.maxWriteStallMs;
    return new Promise((resolve) => {
      const done = (outcome: "drained" | "aborted" | "stalled"): void => {
        clearTimeout(timer);
        stream.removeListener("drain", onDrain);
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const onDrain = (): void => done("drained");
      const onAbort = (): void => done("aborted");
      const timer =
        stallMs > 0
          ? setTimeout(() => {
              this.abort(new RpcError(Code.RESOURCE_EXHAUSTED, `the client has not read the response stream for ${stallMs} ms`));
              done("stalled");
            }, stallMs)
          : undefined;
      stream.once("drain", onDrain);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Resets the call's HTTP/2 stream: its status was sent but waits behind
   * writes the client is not reading, so without a reset the client would
   * never hear that the call ended. RST_STREAM CANCEL reads as CANCELLED (or
   * DEADLINE_EXCEEDED once the client's deadline passed), ENHANCE_YOUR_CALM as
   * RESOURCE_EXHAUSTED (gRPC's HTTP/2 error mapping).
   */
  resetStream(error: unknown): void {
    const stream = http2StreamOf(this.#call);
    if (stream === undefined || stream.closed || stream.destroyed) return;
    const exhausted = error instanceof RpcError && error.code === Code.RESOURCE_EXHAUSTED;
    stream.close(exhausted ? http2.NGHTTP2_ENHANCE_YOUR_CALM : http2.NGHTTP2_CANCEL);
  }

  /**
   * Ends tracking; idempotent. A response stream with a deadline stays
   * watched until its HTTP/2 stream closes: see expire.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#onCancelled !== undefined) (this.#call as NodeJS.EventEmitter).removeListener("cancelled", this.#onCancelled);
    this.#options.calls.delete(this);
    if (this.#responseStream && this.expiresAt !== undefined) this.#options.calls.linger(this);
  }

  /** Where `respond` sends a single-response call's outcome. */
  respondWith(callback: grpc.sendUnaryData<MessageData>): void {
    this.#callback = callback;
  }

  /**
   * Completes a single-response call once: the handler's result or the
   * server's time limit, whichever comes first.
   */
  respond(error: unknown, message: MessageData | undefined): void {
    const callback = this.#callback;
    if (callback === undefined) return;
    this.#callback = undefined;
    this.end();
    if (error !== undefined || message === undefined) return callback(this.toServiceError(error));
    this.sendHeader();
    callback(null, message, this.trailerMetadata());
  }

  /**
   * The status grpc-js sends. Unknown errors become a generic INTERNAL (the
   * recover interceptor logs them); details and a google.rpc.RequestInfo with
   * the request id travel in `grpc-status-details-bin`, message and details
   * fitted into STATUS_LIMITS so that every client can read them.
   */
  toServiceError(error: unknown): grpc.ServiceError {
    const rpcError = error instanceof RpcError ? error : new RpcError(Code.INTERNAL, INTERNAL_ERROR_MESSAGE, { cause: error });
    const metadata = this.trailerMetadata() ?? new grpc.Metadata();
    for (const [key, value] of Object.entries(rpcError.metadata)) metadata.set(key, value);
    const status = boundStatus(rpcError.code, rpcError.message, [...rpcError.details, requestInfo(this.requestId)]);
    metadata.set(STATUS_DETAILS_KEY, status.details);
    return Object.assign(new Error(status.message), {
      code: rpcError.code,
      details: status.message,
      metadata,
    });
  }

  #cancelledByClient(): void {
    const pastDeadline = this.#clientDeadline !== undefined && this.#options.now() >= this.#clientDeadline - DEADLINE_TIMER_SLACK_MS;
    this.abort(
      pastDeadline
        ? new RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded")
        : new RpcError(Code.CANCELLED, "call cancelled by the client"),
    );
  }
}

function deadlineMs(deadline: grpc.Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

function readRequestId(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get(REQUEST_ID_KEY)[0];
  return typeof value === "string" && REQUEST_ID_PATTERN.test(value) ? value : undefined;
}

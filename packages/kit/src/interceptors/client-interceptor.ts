import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { Handler, Middleware, RpcResponse } from "./interceptor.js";
import type { CallContext } from "../server/call-context.js";

/** Per-call settings as they travel down the client chain; interceptors may replace them. */
export interface ClientCallOptions {
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline?: number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Request headers (ASCII values). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The server call this call is made for: its remaining deadline, cancellation and request id carry over. */
  readonly parent?: CallContext;
}

/** A client call: one request message, or a stream of them. */
export type ClientRequest = UnaryClientRequest | StreamClientRequest;

/** The single request message of a unary or server-streaming call. */
export interface UnaryClientRequest {
  readonly stream: false;
  readonly method: DescMethod;
  /** The channel target (`etcd:///user`), for per-target state such as breakers. */
  readonly target: string;
  readonly message: Message;
  readonly options: ClientCallOptions;
}

/** The request messages of a client-streaming or bidi call. */
export interface StreamClientRequest {
  readonly stream: true;
  readonly method: DescMethod;
  readonly target: string;
  readonly messages: AsyncIterable<Message>;
  readonly options: ClientCallOptions;
}

/** What a client chain resolves to. */
export type ClientResponse = RpcResponse;

/** Performs a client call: the next interceptor, or the transport at the end. */
export type ClientNext = Handler<ClientRequest, ClientResponse>;

/** A client interceptor: the same model as the server's. */
export type ClientInterceptor = Middleware<ClientRequest, ClientResponse>;

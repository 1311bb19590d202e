import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { CODE_NAMES } from "../oracle/call-properties.js";
import { connectGrpc, type GrpcConnection } from "../wire/grpc-call.js";
import { lengthPrefixed } from "../wire/grpc-framing.js";

/** A call of the well-behaved client that did not end OK. */
export class CallFailed extends Error {
  constructor(
    readonly code: number | undefined,
    readonly detail: string,
  ) {
    super(`${code === undefined ? "no status" : (CODE_NAMES[code] ?? code)}: ${detail}`);
  }
}

/** Per-call options of the well-behaved client. */
export interface PlainCallOptions {
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A response stream the well-behaved client reads. */
export interface PlainStream<O> {
  readonly messages: AsyncIterable<O>;
  cancel(): void;
}

/**
 * The suite's own well-behaved gRPC client (set-up, audits, the oracle watch):
 * protobuf-es messages over the same raw HTTP/2 calls as the fuzzed ones, so
 * that the suite depends on no client library of the code under test.
 */
export interface PlainClient {
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    options: PlainCallOptions,
  ): Promise<MessageShape<O>>;
  /** A server stream with no deadline; it fails with CallFailed when it ends other than by `cancel()`. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
  ): PlainStream<MessageShape<O>>;
  close(): void;
}

const FOREVER_MS = 2 ** 31 - 1;

/** A client of the server at `address` (host:port). */
export function createPlainClient(address: string): PlainClient {
  const connection: GrpcConnection = connectGrpc(address);
  const pathOf = (method: { readonly parent: { readonly typeName: string }; readonly name: string }): string =>
    `/${method.parent.typeName}/${method.name}`;
  return {
    async unary(method, request, options) {
      const outcome = await connection.call({
        path: pathOf(method),
        headers: { "grpc-timeout": `${options.timeoutMs}m`, ...options.headers },
        chunks: [lengthPrefixed(toBinary(method.input, create(method.input, request)))],
        watchdogMs: options.timeoutMs + 5_000,
      });
      const body = outcome.messages[0];
      if (outcome.grpcStatus !== 0 || body === undefined) throw new CallFailed(outcome.grpcStatus, outcome.grpcMessage ?? outcome.kind);
      return fromBinary(method.output, body);
    },
    serverStream(method, request) {
      const call = connection.open({ path: pathOf(method), watchdogMs: FOREVER_MS });
      call.write(lengthPrefixed(toBinary(method.input, create(method.input, request))));
      call.end();
      let cancelled = false;
      return {
        messages: {
          async *[Symbol.asyncIterator]() {
            for (;;) {
              const body = await call.nextMessage();
              if (body === undefined) break;
              yield fromBinary(method.output, body);
            }
            if (cancelled) return;
            const outcome = await call.outcome;
            throw new CallFailed(outcome.grpcStatus, outcome.grpcMessage ?? outcome.kind);
          },
        },
        cancel() {
          cancelled = true;
          call.abandon();
        },
      };
    },
    close: () => connection.close(),
  };
}

import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code } from "./code.js";

export { Code };

/** A google.rpc error detail: a message and the schema that encodes it. */
export interface ErrorDetail<Desc extends DescMessage = DescMessage> {
  readonly schema: Desc;
  readonly value: MessageShape<Desc>;
}

/** Options of {@link RpcError}. */
export interface RpcErrorOptions {
  /** google.rpc details sent to the client in `grpc-status-details-bin`. @default [] */
  readonly details?: readonly ErrorDetail[];
  /** Extra trailing metadata (ASCII values). @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The underlying error, kept for the server log only. */
  readonly cause?: unknown;
}

/**
 * Throw this from a handler to end the call with a gRPC status. Its message and
 * details reach the client; `cause` stays in the server log.
 */
export class RpcError extends Error {
  override readonly name = "RpcError";
  readonly details: readonly ErrorDetail[];
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    readonly code: Code,
    message: string,
    options: RpcErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? [];
    this.metadata = options.metadata ?? {};
  }

  /** The detail of the given type, if the error carries one. */
  findDetail<Desc extends DescMessage>(schema: Desc): MessageShape<Desc> | undefined {
    const found = this.details.find((d) => d.schema.typeName === schema.typeName);
    return found?.value as MessageShape<Desc> | undefined;
  }
}

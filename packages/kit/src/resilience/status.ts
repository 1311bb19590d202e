import type { DescMethod } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";

/** The status code of a failed call; errors that are not RpcErrors count as UNKNOWN. */
export function codeOf(error: unknown): Code {
  return error instanceof RpcError ? error.code : Code.UNKNOWN;
}

const BREAKER_FAILURES: ReadonlySet<Code> = new Set([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.INTERNAL,
  Code.RESOURCE_EXHAUSTED,
  Code.DATA_LOSS,
  Code.UNIMPLEMENTED,
]);

/**
 * Whether a status says the backend is unhealthy (go-zero's list). Every other
 * code, NOT_FOUND or INVALID_ARGUMENT included, is an answer from a working
 * backend and must not trip a breaker.
 */
export function isBreakerFailure(code: Code): boolean {
  return BREAKER_FAILURES.has(code);
}

/** `package.Service/Method`, as in the gRPC path without its leading slash. */
export function methodPath(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

/**
 * The error for a call stopped by its signal. A server call's signal carries an
 * RpcError saying why (cancelled, deadline, shutdown), which is passed on.
 */
export function abortedError(signal: AbortSignal, message: string, cause?: unknown): RpcError {
  const reason: unknown = signal.reason;
  return reason instanceof RpcError ? reason : new RpcError(Code.CANCELLED, message, { cause: cause ?? reason });
}

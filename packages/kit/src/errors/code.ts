/**
 * gRPC status codes, with the numbers of the gRPC spec (doc/statuscodes.md).
 * Trellis' own, so that no grpc-js type reaches a service's code.
 */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code. */
export type Code = (typeof Code)[keyof typeof Code];

const NAMES: readonly string[] = Object.keys(Code);

/** The canonical name of a status code, as in the gRPC spec (`NOT_FOUND`); `CODE_<n>` for a number outside it. */
export function codeName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

/** The code a number on the wire means: numbers outside the spec are UNKNOWN (as the spec says). */
export function toCode(value: number): Code {
  return Number.isInteger(value) && value >= 0 && value < NAMES.length ? (value as Code) : Code.UNKNOWN;
}

// One place for the classes of codes every component uses (logging, breaker,
// retry, metrics, the HTTP mapping at the edge), so that they cannot disagree.

const SERVER_FAULTS: ReadonlySet<Code> = new Set([Code.UNKNOWN, Code.INTERNAL, Code.DATA_LOSS, Code.UNIMPLEMENTED]);

const BACKEND_UNHEALTHY: ReadonlySet<Code> = new Set([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.INTERNAL,
  Code.RESOURCE_EXHAUSTED,
  Code.DATA_LOSS,
  Code.UNIMPLEMENTED,
]);

/**
 * Whether a status is the server's fault rather than the client's: logged at
 * error (the others at warn) and counted as server errors.
 */
export function isServerFault(code: Code): boolean {
  return SERVER_FAULTS.has(code);
}

/**
 * Whether a status says the backend is unhealthy (go-zero's breaker list).
 * Every other code, NOT_FOUND or INVALID_ARGUMENT included, is an answer from a
 * working backend and must not trip a breaker.
 */
export function isBreakerFailure(code: Code): boolean {
  return BACKEND_UNHEALTHY.has(code);
}

/**
 * Whether a call that failed with this status may be sent again unchanged:
 * UNAVAILABLE always (the server did not process it, or the method is
 * idempotent); RESOURCE_EXHAUSTED only when the server said when, with a
 * google.rpc.RetryInfo. The retry interceptor also requires an idempotent method.
 */
export function isRetryable(code: Code, hasRetryInfo: boolean): boolean {
  return code === Code.UNAVAILABLE || (code === Code.RESOURCE_EXHAUSTED && hasRetryInfo);
}

import { Code, codeName } from "@trellis/kit/errors";

// google.rpc.Code's documented HTTP mapping (google/rpc/code.proto), which
// grpc-gateway and Envoy's grpc_json_transcoder use too.
const HTTP_STATUS: Readonly<Record<number, number>> = {
  [Code.OK]: 200,
  [Code.CANCELLED]: 499,
  [Code.UNKNOWN]: 500,
  [Code.INVALID_ARGUMENT]: 400,
  [Code.DEADLINE_EXCEEDED]: 504,
  [Code.NOT_FOUND]: 404,
  [Code.ALREADY_EXISTS]: 409,
  [Code.PERMISSION_DENIED]: 403,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.FAILED_PRECONDITION]: 400,
  [Code.ABORTED]: 409,
  [Code.OUT_OF_RANGE]: 400,
  [Code.UNIMPLEMENTED]: 501,
  [Code.INTERNAL]: 500,
  [Code.UNAVAILABLE]: 503,
  [Code.DATA_LOSS]: 500,
  [Code.UNAUTHENTICATED]: 401,
};

/** The HTTP status google.rpc.Code documents for a gRPC code (500 for one outside the spec). */
export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/** The Connect protocol's name of a code (`not_found`); `unknown` for one outside the spec. */
export function connectCodeName(code: number): string {
  const name = codeName(code);
  return name.startsWith("CODE_") ? "unknown" : name.toLowerCase();
}

/** The gRPC code of a Connect code name, or undefined for a name the protocol does not define. */
export function codeOfConnectName(name: string): Code | undefined {
  const code = (Code as Record<string, Code>)[name.toUpperCase()];
  return code === undefined || code === Code.OK ? undefined : code;
}

/** The gRPC code for an HTTP status that did not come with one (gRPC's http-grpc-status-mapping.md). */
export function codeOfHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.INTERNAL;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.UNAVAILABLE;
    default:
      return Code.UNKNOWN;
  }
}

import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";

/** What the UI needs to know about a failed call, in words a person can act on. */
export interface ProblemReport {
  readonly code: Code;
  /** One sentence for a banner or an alert. */
  readonly message: string;
  /** Field violations from google.rpc.BadRequest, by the request's field path ("email", "user.display_name"). */
  readonly fields: ReadonlyMap<string, string>;
  /** google.rpc.ErrorInfo's reason, e.g. "EMAIL_TAKEN". */
  readonly reason: string | undefined;
  /** google.rpc.RetryInfo's delay, when the server said when to try again. */
  readonly retryAfterMs: number | undefined;
}

/**
 * Reads a failed call: its status code, the server's message and its google.rpc details
 * (the edge and the services send them in `grpc-status-details-bin` / the Connect error body).
 */
export function readProblem(error: unknown): ProblemReport {
  const failure = ConnectError.from(error);
  const fields = new Map<string, string>();
  for (const detail of failure.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) {
      const previous = fields.get(violation.field);
      fields.set(violation.field, previous === undefined ? violation.description : `${previous}; ${violation.description}`);
    }
  }
  const reason = failure.findDetails(ErrorInfoSchema)[0]?.reason;
  const delay = failure.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const retryAfterMs = delay === undefined ? undefined : Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6);
  return { code: failure.code, message: sentenceFor(failure), fields, reason: reason === "" ? undefined : reason, retryAfterMs };
}

function sentenceFor(failure: ConnectError): string {
  switch (failure.code) {
    case Code.Unavailable:
      return "The service is unreachable right now. Check your connection; the app keeps retrying.";
    case Code.DeadlineExceeded:
      return "The server took too long to answer. Try again in a moment.";
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return "You are not allowed to do this.";
    case Code.ResourceExhausted:
      return "The service is busy. Try again in a moment.";
    case Code.Internal:
    case Code.Unknown:
    case Code.DataLoss:
      return "Something went wrong on the server. Try again; if it keeps happening, tell the operators.";
    case Code.Unimplemented:
      return "This server does not offer that operation (is the edge up to date?).";
    default:
      return capitalise(failure.rawMessage || "The request failed.");
  }
}

function capitalise(text: string): string {
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Whether the call was ended by our own AbortSignal (navigation, a closed dialog): not an error to show. */
export function isCancellation(error: unknown): boolean {
  return error instanceof ConnectError ? error.code === Code.Canceled : error instanceof DOMException && error.name === "AbortError";
}

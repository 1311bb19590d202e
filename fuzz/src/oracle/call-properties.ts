import type { CallOutcome } from "../wire/grpc-call.js";
import { show, type Violation } from "./violation.js";

/** gRPC status codes by number. */
export const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** What the caller knew about the call it made. */
export interface CallContext {
  /** Whether the server implements the path the call was sent to, as a well-formed gRPC POST. */
  readonly implementedPath: boolean;
  /** Whether the method answers with exactly one message when OK. */
  readonly singleResponse: boolean;
  readonly watchdogMs: number;
}

const STACK_TRACE = /\n\s*at\s|\bat\s+\S+\s+\(.*:\d+:\d+\)|\.[cm]?[jt]s:\d+:\d+|node:internal|node_modules|file:\/\//;

/** The code name a call received ("OK", "NOT_FOUND"), or how it ended without one ("reset", "hang", "http"). */
export function receivedCode(outcome: CallOutcome): string {
  return outcome.grpcStatus === undefined ? outcome.kind : (CODE_NAMES[outcome.grpcStatus] ?? String(outcome.grpcStatus));
}

/** A short name for how a call ended: "INVALID_ARGUMENT", "HTTP 415", "RST_STREAM 2", "hang". */
export function describeOutcome(outcome: CallOutcome): string {
  switch (outcome.kind) {
    case "status":
      return `${outcome.grpcStatus === undefined ? `grpc-status ${show(outcome.grpcStatusText)}` : (CODE_NAMES[outcome.grpcStatus] ?? `code ${outcome.grpcStatus}`)}${outcome.grpcMessage ? ` ${show(outcome.grpcMessage, 200)}` : ""}`;
    case "http":
      return `HTTP ${outcome.httpStatus} without grpc-status`;
    case "reset":
      return `reset (RST_STREAM ${outcome.rstCode ?? "?"}) without a status`;
    case "hang":
      return "no status and no reset (hang)";
  }
}

/**
 * The properties every call must have, whatever was sent: it ends with a
 * status or a reset before the client's watchdog; no INTERNAL or UNKNOWN; no
 * stack trace in the status message or details; no UNIMPLEMENTED for a method
 * the server implements; a well-formed grpc-status and response framing; and
 * exactly one response message when a single-response method says OK.
 */
export function checkOutcome(outcome: CallOutcome, context: CallContext): Violation[] {
  const violations: Violation[] = [];
  if (outcome.kind === "hang") {
    violations.push({
      property: "no hang",
      detail: `neither a status nor a reset within ${context.watchdogMs} ms (the call carried a deadline shorter than that)`,
    });
    return violations;
  }
  if (outcome.grpcStatusText !== undefined && (outcome.grpcStatus === undefined || outcome.grpcStatus > 16)) {
    violations.push({ property: "a well-formed status", detail: `grpc-status ${show(outcome.grpcStatusText)}` });
  }
  if (outcome.grpcStatus === 13 || outcome.grpcStatus === 2) {
    violations.push({ property: "no INTERNAL or UNKNOWN for bad input", detail: describeOutcome(outcome) });
  }
  if (outcome.grpcStatus === 12 && context.implementedPath) {
    violations.push({ property: "no UNIMPLEMENTED for an implemented method", detail: describeOutcome(outcome) });
  }
  const details = outcome.statusDetails === undefined ? "" : outcome.statusDetails.toString("latin1");
  if (STACK_TRACE.test(outcome.grpcMessage ?? "") || STACK_TRACE.test(details)) {
    violations.push({
      property: "no stack trace in a status",
      detail: `${show(outcome.grpcMessage, 400)} / details ${show(details, 400)}`,
    });
  }
  if (outcome.trailingBytes > 0 || outcome.compressedResponse) {
    violations.push({
      property: "well-formed response framing",
      detail: `${outcome.trailingBytes} bytes after the last message, compressed flag ${outcome.compressedResponse}`,
    });
  }
  if (outcome.grpcStatus === 0 && context.singleResponse && outcome.messages.length !== 1) {
    violations.push({ property: "one response message for an OK unary call", detail: `${outcome.messages.length} messages` });
  }
  return violations;
}

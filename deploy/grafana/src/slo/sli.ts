import { LATENCY_THRESHOLD_LE, NO_ANSWER_CODES, SERVER_FAULT_CODES, SINGLE_RESPONSE_TYPES } from "./objectives.js";

/**
 * The PromQL of the service level indicators, as ratios of bad calls to all
 * calls per `job` over a window. Server side only: the SLO is what a
 * service's callers get from it; the client twins show what a caller saw.
 */

/** Matchers every SLI selector carries: calls to methods the server never served are not part of it. */
const SERVED = 'grpc_service!="unknown"';

/** Joins label matchers into one selector body, dropping empty ones. */
function matchers(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(",");
}

/**
 * Rate of calls that are bad for availability, per job:
 * server faults of any call kind, and UNAVAILABLE / DEADLINE_EXCEEDED of calls
 * with one response. The two selectors match disjoint series, so `or` is their sum.
 */
export function availabilityBadRate(window: string, extra = ""): string {
  const faults = `grpc_server_handled_total{${matchers(SERVED, `grpc_code=~"${SERVER_FAULT_CODES.join("|")}"`, extra)}}`;
  const noAnswer = `grpc_server_handled_total{${matchers(
    SERVED,
    `grpc_type=~"${SINGLE_RESPONSE_TYPES.join("|")}"`,
    `grpc_code=~"${NO_ANSWER_CODES.join("|")}"`,
    extra,
  )}}`;
  return `sum by (job) (rate(${faults}[${window}]) or rate(${noAnswer}[${window}]))`;
}

/** Rate of every call the availability SLI counts, per job. */
export function availabilityTotalRate(window: string, extra = ""): string {
  return `sum by (job) (rate(grpc_server_handled_total{${matchers(SERVED, extra)}}[${window}]))`;
}

/**
 * Fraction of calls that were bad for availability over `window`, per job.
 * A job with calls but no bad ones is 0, not absent (the bad selector matches
 * no series then); a job without calls is absent.
 */
export function availabilityErrorRatio(window: string, extra = ""): string {
  const total = availabilityTotalRate(window, extra);
  return `(${availabilityBadRate(window, extra)} or 0 * ${total})\n/\n${total}`;
}

/** Rate of unary calls the latency SLI counts, per job. */
export function latencyTotalRate(window: string, extra = ""): string {
  return `sum by (job) (rate(grpc_server_handling_seconds_count{${matchers(SERVED, 'grpc_type="unary"', extra)}}[${window}]))`;
}

/** Rate of unary calls answered within the threshold, per job. */
export function latencyGoodRate(window: string, extra = ""): string {
  return `sum by (job) (rate(grpc_server_handling_seconds_bucket{${matchers(
    SERVED,
    'grpc_type="unary"',
    `le="${LATENCY_THRESHOLD_LE}"`,
    extra,
  )}}[${window}]))`;
}

/**
 * Fraction of unary calls slower than the threshold over `window`, per job.
 * Only unary calls: a stream's handling time is its lifetime, and a
 * client stream's depends on how fast its caller sends.
 */
export function latencyErrorRatio(window: string, extra = ""): string {
  const total = latencyTotalRate(window, extra);
  return `(${total} - ${latencyGoodRate(window, extra)})\n/\n${total}`;
}

/**
 * Trellis' service level objectives: what "good" means for a call, the
 * targets, and the burn-rate alert windows of the Google SRE workbook
 * (chapter "Alerting on SLOs", multiwindow, multi-burn-rate alerts). The rules
 * and the dashboards read these, so a target changes in one place.
 */

/** The SLO period: burn rate 1 spends exactly the whole budget in it. */
export const SLO_PERIOD = "30d";

/** The SLO period in hours (30 days). */
export const SLO_PERIOD_HOURS = 30 * 24;

/**
 * Status codes that make a call *bad* for the availability SLI, whatever the
 * call kind: the server failed (UNKNOWN: an unmapped exception; INTERNAL: a
 * broken invariant or dependency; DATA_LOSS: corruption) or cannot serve the
 * method it is asked for (UNIMPLEMENTED: version skew between caller and
 * server). The kit's `isServerFault` is this set. Calls to methods the server
 * never served are labelled `grpc_service="unknown"` by the kit and are left
 * out of the SLI altogether (scanners and misrouted callers are not an outage).
 */
export const SERVER_FAULT_CODES = ["Unknown", "Internal", "DataLoss", "Unimplemented"] as const;

/**
 * Codes that are bad only for calls with one response (`unary`,
 * `client_stream`): the caller got no answer. UNAVAILABLE is the definition of
 * unavailability (the kit sheds load with it, chat answers it while user is
 * down); DEADLINE_EXCEEDED means no answer in the caller's time. A long-lived
 * response stream (`server_stream`, `bidi_stream`) normally *ends* with these:
 * UNAVAILABLE on every drain (resume on another instance) and when refused
 * with RetryInfo, DEADLINE_EXCEEDED when the caller bounded its lifetime.
 * Counted there, every rolling restart would page.
 */
export const NO_ANSWER_CODES = ["Unavailable", "DeadlineExceeded"] as const;

/** `grpc_type`s whose calls have one response. */
export const SINGLE_RESPONSE_TYPES = ["unary", "client_stream"] as const;

/**
 * Every other code is the server answering correctly about the caller's
 * request (OK, CANCELED by the caller, INVALID_ARGUMENT, NOT_FOUND,
 * ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION,
 * ABORTED for a stale etag, OUT_OF_RANGE, RESOURCE_EXHAUSTED for a caller over
 * its per-client limits — Trellis sheds *instance* overload with UNAVAILABLE).
 */
export const GOOD_CODES = [
  "OK",
  "Canceled",
  "InvalidArgument",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unauthenticated",
] as const;

/** A service level objective on the server side of every job. */
export interface Objective {
  /** Short name, used in recording-rule and alert names (`availability`). */
  readonly name: string;
  /** The target fraction of good calls over {@link SLO_PERIOD}, e.g. 0.9999. */
  readonly target: number;
  /** One line for humans. */
  readonly description: string;
}

/** 99.99 % of calls are not failed by the server (see {@link SERVER_FAULT_CODES}). */
export const AVAILABILITY: Objective = {
  name: "availability",
  target: 0.9999,
  description: "99.99 % of calls over 30 days end without a server fault",
};

/**
 * The latency threshold of the latency SLI: a bucket boundary of
 * `grpc_server_handling_seconds` (go-grpc-prometheus' default buckets), as a
 * label value.
 */
export const LATENCY_THRESHOLD_LE = "0.25";

/** 99 % of unary calls answered within {@link LATENCY_THRESHOLD_LE} seconds. */
export const LATENCY: Objective = {
  name: "latency",
  target: 0.99,
  description: "99 % of unary calls over 30 days answered within 250 ms",
};

/** One row of the workbook's multiwindow, multi-burn-rate table. */
export interface BurnRateWindow {
  /** `page` (wake someone) or `ticket` (next working day). */
  readonly severity: "page" | "ticket";
  /** The long window, as a PromQL duration. */
  readonly long: string;
  /** The short window (1/12 of the long one): the alert stops soon after the burn does. */
  readonly short: string;
  /** How many times faster than sustainable the budget is spent. */
  readonly burnRate: number;
}

/**
 * The SRE workbook's windows for a 30-day SLO: 2 % of the budget in 1 h
 * (14.4×) and 5 % in 6 h (6×) page; 10 % in 1 d (3×) and 10 % in 3 d (1×)
 * open a ticket. Each long window is paired with a short one of 1/12 its
 * length.
 */
export const BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { severity: "page", long: "1h", short: "5m", burnRate: 14.4 },
  { severity: "page", long: "6h", short: "30m", burnRate: 6 },
  { severity: "ticket", long: "1d", short: "2h", burnRate: 3 },
  { severity: "ticket", long: "3d", short: "6h", burnRate: 1 },
];

/** Every window a ratio is recorded for, shortest first. */
export function recordedWindows(): string[] {
  const all = BURN_RATE_WINDOWS.flatMap((w) => [w.short, w.long]);
  return [...new Set(all)].sort((a, b) => durationSeconds(a) - durationSeconds(b));
}

/** The error budget of an objective (1 − target), rounded to the target's precision: 0.0001 for 99.99 %. */
export function errorBudget(objective: Objective): number {
  return Number((1 - objective.target).toPrecision(6));
}

/** The fraction of the period's budget a window spends at its burn rate (0.02 for 1 h at 14.4). */
export function budgetSpent(window: BurnRateWindow): number {
  return Number(((window.burnRate * durationSeconds(window.long)) / (SLO_PERIOD_HOURS * 3600)).toPrecision(6));
}

/** Seconds in a PromQL duration made of one unit (`5m`, `6h`, `3d`). */
export function durationSeconds(duration: string): number {
  const match = /^(\d+)([smhdw])$/.exec(duration);
  if (match === null) throw new Error(`not a one-unit PromQL duration: ${duration}`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[match[2] as "s" | "m" | "h" | "d" | "w"];
  return Number(match[1]) * unit;
}

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AVAILABILITY,
  BURN_RATE_WINDOWS,
  GOOD_CODES,
  LATENCY,
  NO_ANSWER_CODES,
  SERVER_FAULT_CODES,
  budgetSpent,
  durationSeconds,
  errorBudget,
  recordedWindows,
} from "./objectives.js";

/** grpc-go's codes.Code.String() names, which go-grpc-prometheus (and the kit) put in grpc_code. */
const ALL_CODES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

describe("SLO objectives", () => {
  it("has the SRE workbook's thresholds for a 99.99 % target over 30 days", () => {
    assert.equal(errorBudget(AVAILABILITY), 0.0001);
    const thresholds = BURN_RATE_WINDOWS.map((w) => Number((w.burnRate * errorBudget(AVAILABILITY)).toPrecision(6)));
    assert.deepEqual(thresholds, [0.00144, 0.0006, 0.0003, 0.0001]);
    assert.deepEqual(
      BURN_RATE_WINDOWS.map((w) => [w.severity, w.long, w.short, w.burnRate]),
      [
        ["page", "1h", "5m", 14.4],
        ["page", "6h", "30m", 6],
        ["ticket", "1d", "2h", 3],
        ["ticket", "3d", "6h", 1],
      ],
    );
  });

  it("spends 2 %, 5 %, 10 % and 10 % of the budget per long window", () => {
    assert.deepEqual(BURN_RATE_WINDOWS.map(budgetSpent), [0.02, 0.05, 0.1, 0.1]);
  });

  it("pairs each long window with a short one of 1/12 its length", () => {
    for (const w of BURN_RATE_WINDOWS) assert.equal(durationSeconds(w.long) / durationSeconds(w.short), 12, `${w.long}/${w.short}`);
  });

  it("records each window once, shortest first", () => {
    assert.deepEqual(recordedWindows(), ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
  });

  it("sorts every gRPC code into exactly one class", () => {
    const classes = [...SERVER_FAULT_CODES, ...NO_ANSWER_CODES, ...GOOD_CODES];
    assert.equal(new Set(classes).size, classes.length, "a code is in two classes");
    assert.deepEqual([...classes].sort(), [...ALL_CODES].sort());
  });

  it("keeps the latency budget at 1 %", () => {
    assert.equal(errorBudget(LATENCY), 0.01);
  });

  it("refuses durations it cannot compare", () => {
    assert.equal(durationSeconds("3d"), 259200);
    assert.throws(() => durationSeconds("1h30m"), /not a one-unit PromQL duration: 1h30m/);
  });
});

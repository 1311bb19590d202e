import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLoadShedder, type Admission, type LoadShedder } from "./load-shedder.js";
import type { LoadReading, LoadSignal } from "./load-signal.js";

const BUSY: LoadReading = { utilization: 0.99, delayMs: 3 };
const LAGGING: LoadReading = { utilization: 0.7, delayMs: 80 };
const KEEPING_UP: LoadReading = { utilization: 0.9, delayMs: 5 };
const QUIET: LoadReading = { utilization: 0.2, delayMs: 1 };

/** A shedder on a signal the test sets: each `set` is a new reading, taken at once (as the next call would). */
function rig(): { shedder: LoadShedder; set(reading: LoadReading): void } {
  let current: LoadReading = { ...QUIET };
  const signal: LoadSignal = { read: () => current, close: () => undefined };
  const shedder = createLoadShedder({ signal, gain: 0.25 });
  return {
    shedder,
    set: (reading) => {
      current = { ...reading };
      shedder.snapshot();
    },
  };
}

/** Admits `n` calls and keeps them in flight. */
function hold(shedder: LoadShedder, n: number): Admission[] {
  return Array.from({ length: n }, () => {
    const admission = shedder.admit();
    assert.ok(admission !== undefined, "admitted");
    return admission;
  });
}

/** Admits until one is shed; returns how many were admitted. */
function admitUntilShed(shedder: LoadShedder): number {
  let admitted = 0;
  while (shedder.admit() !== undefined) {
    admitted++;
    assert.ok(admitted < 10_000, "nothing was shed");
  }
  return admitted;
}

describe("createLoadShedder (overload from the event loop, an AIMD limit on calls in flight; injected signal)", () => {
  it("sheds nothing while the event loop keeps up, however many calls are in flight", () => {
    const r = rig();
    hold(r.shedder, 200);
    for (const reading of [KEEPING_UP, QUIET, KEEPING_UP]) {
      r.set(reading);
      hold(r.shedder, 10);
    }
    assert.equal(r.shedder.snapshot().limit, Number.POSITIVE_INFINITY);
    assert.equal(r.shedder.snapshot().shed, 0);
  });

  it("on the first overloaded reading, limits calls in flight to a quarter under what is in flight, and sheds past it", () => {
    const r = rig();
    const held = hold(r.shedder, 100);
    r.set(BUSY);
    assert.equal(r.shedder.snapshot().limit, 75);
    assert.equal(r.shedder.admit(), undefined, "100 in flight >= 75: shed");
    for (const a of held.slice(0, 26)) a.done();
    assert.equal(admitUntilShed(r.shedder), 1, "74 in flight: one more admitted, then the limit holds");
    assert.equal(r.shedder.snapshot().inFlight, 75);
  });

  it("takes a quarter off with each further overloaded reading, and counts event-loop delay as overload too", () => {
    const r = rig();
    hold(r.shedder, 100);
    const limits: number[] = [];
    for (const reading of [BUSY, LAGGING, BUSY]) {
      r.set(reading);
      limits.push(r.shedder.snapshot().limit);
    }
    assert.deepEqual(limits, [75, 56.25, 42.1875]);
    // Readings are taken, not counted per call: the same reading moves nothing.
    assert.equal(r.shedder.snapshot().limit, 42.1875);
  });

  it("gives a quarter back (and one) with each reading where the loop keeps up but is still busy", () => {
    const r = rig();
    hold(r.shedder, 100);
    r.set(BUSY);
    r.set(KEEPING_UP);
    assert.equal(r.shedder.snapshot().limit, 75 * 1.25 + 1);
  });

  it("lifts the limit at once when the load is gone", () => {
    const r = rig();
    hold(r.shedder, 100);
    for (let i = 0; i < 5; i++) r.set(BUSY);
    assert.ok(r.shedder.snapshot().limit < 30);
    r.set(QUIET);
    assert.equal(r.shedder.snapshot().limit, Number.POSITIVE_INFINITY);
    assert.notEqual(r.shedder.admit(), undefined, "the next call is admitted, with 100 still in flight");
  });

  it("never limits below 8 calls in flight, and never sheds with one or none", () => {
    const r = rig();
    for (let i = 0; i < 50; i++) r.set(BUSY);
    assert.equal(r.shedder.snapshot().limit, 8, "the floor: an admitted call holds its slot until its stream closes");
    const held = hold(r.shedder, 8);
    assert.equal(r.shedder.admit(), undefined, "eight in flight: shed");
    held[0]!.done();
    assert.notEqual(r.shedder.admit(), undefined, "seven: admitted");
    const lone = createLoadShedder({ signal: { read: () => BUSY, close: () => undefined }, minLimit: 1 });
    assert.equal(lone.snapshot().limit, 2, "at least one more than minInFlight, whatever minLimit says");
    const first = lone.admit();
    assert.notEqual(first, undefined, "none in flight");
    assert.notEqual(lone.admit(), undefined, "one in flight");
    assert.equal(lone.admit(), undefined, "two: shed");
  });

  it("counts an admission once, however often it is ended", () => {
    const r = rig();
    const a = r.shedder.admit()!;
    a.done();
    a.done();
    assert.equal(r.shedder.snapshot().inFlight, 0);
  });
});

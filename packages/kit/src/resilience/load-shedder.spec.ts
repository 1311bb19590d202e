import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLoadShedder, type Admission, type LoadShedder } from "./load-shedder.js";
import type { LoadReading, LoadSignal } from "./load-signal.js";

const BUSY: LoadReading = { utilization: 0.99, delayMs: 3 };
const LAGGING: LoadReading = { utilization: 0.7, delayMs: 80 };
const KEEPING_UP: LoadReading = { utilization: 0.9, delayMs: 5 };
const QUIET: LoadReading = { utilization: 0.2, delayMs: 1 };

/** A shedder on a signal the test sets (each `set` is a new reading) and a random source it scripts. */
function rig(random: () => number = () => 0.5): { shedder: LoadShedder; set(reading: LoadReading): void } {
  let current: LoadReading = { ...QUIET };
  const signal: LoadSignal = { read: () => current, close: () => undefined };
  const shedder = createLoadShedder({ signal, random, gain: 0.25 });
  return {
    shedder,
    set: (reading) => {
      current = { ...reading };
      // The shedder takes the reading (as the next call would).
      shedder.snapshot();
    },
  };
}

/** Admits `n` calls and keeps them in flight. */
function hold(shedder: LoadShedder, n: number): Admission[] {
  return Array.from({ length: n }, () => {
    const admission = shedder.admit();
    assert.ok(admission !== undefined);
    return admission;
  });
}

describe("createLoadShedder (overload from the event loop, a feedback loop on the drop ratio; injected signal and randomness)", () => {
  it("sheds nothing while the event loop keeps up, however many calls are in flight", () => {
    const r = rig(() => 0);
    hold(r.shedder, 50);
    for (const reading of [QUIET, KEEPING_UP, QUIET, KEEPING_UP]) {
      r.set(reading);
      assert.notEqual(r.shedder.admit(), undefined);
    }
    assert.equal(r.shedder.snapshot().dropRatio, 0);
    assert.equal(r.shedder.snapshot().shed, 0);
  });

  it("raises the drop ratio with each overloaded reading, closing a quarter of the gap to 1 each time", () => {
    const r = rig();
    hold(r.shedder, 10);
    const ratios: number[] = [];
    for (let i = 0; i < 3; i++) {
      r.set(BUSY);
      ratios.push(r.shedder.snapshot().dropRatio);
    }
    assert.deepEqual(ratios, [0.25, 0.4375, 0.578125]);
    // Readings are taken, not counted per call: the same reading moves nothing.
    assert.equal(r.shedder.snapshot().dropRatio, 0.578125);
  });

  it("counts event-loop delay past its threshold as overload too", () => {
    const r = rig();
    r.set(LAGGING);
    assert.equal(r.shedder.snapshot().dropRatio, 0.25);
  });

  it("sheds that share of new calls (by the random draw) while more than one call is in flight", () => {
    const draws = [0.1, 0.3, 0.2, 0.9];
    const r = rig(() => draws.shift() ?? 0.99);
    hold(r.shedder, 2);
    r.set(BUSY); // drop ratio 0.25
    assert.equal(r.shedder.admit(), undefined, "draw 0.1 < 0.25: shed");
    assert.notEqual(r.shedder.admit(), undefined, "draw 0.3: admitted");
    assert.equal(r.shedder.admit(), undefined, "draw 0.2: shed");
    assert.notEqual(r.shedder.admit(), undefined, "draw 0.9: admitted");
    assert.equal(r.shedder.snapshot().shed, 2);
  });

  it("never sheds with one call or none in flight: one call at a time cannot overload a server", () => {
    const r = rig(() => 0);
    for (let i = 0; i < 10; i++) r.set(BUSY);
    assert.ok(r.shedder.snapshot().dropRatio > 0.9);
    const first = r.shedder.admit();
    assert.notEqual(first, undefined, "none in flight");
    assert.notEqual(r.shedder.admit(), undefined, "one in flight");
    assert.equal(r.shedder.admit(), undefined, "two in flight: shed");
    assert.equal(r.shedder.snapshot().inFlight, 2);
  });

  it("lowers the ratio while the loop keeps up, and drops it to 0 at once when the load is gone", () => {
    const r = rig();
    for (let i = 0; i < 4; i++) r.set(BUSY);
    const high = r.shedder.snapshot().dropRatio;
    r.set(KEEPING_UP);
    assert.equal(r.shedder.snapshot().dropRatio, high - 0.25, "keeping up, still busy: a step down");
    r.set(QUIET);
    assert.equal(r.shedder.snapshot().dropRatio, 0, "the load is gone: nothing shed from the next call on");
  });

  it("keeps a trickle of calls admitted however long the overload lasts", () => {
    const r = rig();
    for (let i = 0; i < 100; i++) r.set(BUSY);
    assert.equal(r.shedder.snapshot().dropRatio, 0.98);
  });

  it("counts an admission once, however often it is ended", () => {
    const r = rig();
    const a = r.shedder.admit()!;
    a.done();
    a.done();
    assert.equal(r.shedder.snapshot().inFlight, 0);
  });
});

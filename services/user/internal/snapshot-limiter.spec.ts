import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSnapshotLimiter, type LimiterTimers } from "./snapshot-limiter.js";
import { SnapshotTooSlowError } from "./user-errors.js";

/** Timers the test fires by hand. */
function manualTimers(): LimiterTimers & { fire(): void; readonly pending: number } {
  const timers = new Map<number, () => void>();
  let next = 0;
  return {
    setTimeout: (callback) => {
      next += 1;
      timers.set(next, callback);
      return next;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
    fire: () => {
      const due = [...timers.values()];
      timers.clear();
      for (const callback of due) callback();
    },
    get pending() {
      return timers.size;
    },
  };
}

describe("snapshot limiter", () => {
  it("lends at most maxConcurrent slots and takes a released one back", () => {
    const limiter = createSnapshotLimiter({ maxConcurrent: 2, timers: manualTimers() });
    const a = limiter.tryAcquire();
    const b = limiter.tryAcquire();
    assert.ok(a && b);
    assert.equal(limiter.tryAcquire(), undefined);
    assert.equal(limiter.active, 2);
    a.release();
    a.release(); // twice is once
    assert.equal(limiter.active, 1);
    assert.ok(limiter.tryAcquire());
    assert.equal(limiter.tryAcquire(), undefined);
  });

  it("frees a slot held past maxHoldMs and tells its holder why", () => {
    const timers = manualTimers();
    const limiter = createSnapshotLimiter({ maxConcurrent: 1, maxHoldMs: 5_000, timers });
    const slot = limiter.tryAcquire();
    assert.ok(slot);
    assert.equal(limiter.tryAcquire(), undefined);
    timers.fire();
    assert.ok(slot.expired.aborted);
    assert.ok(slot.expired.reason instanceof SnapshotTooSlowError);
    assert.equal(slot.expired.reason.maxMs, 5_000);
    assert.equal(limiter.active, 0);
    const next = limiter.tryAcquire();
    assert.ok(next, "the slot is free again even though its holder has not released it");
    slot.release(); // late release does not free someone else's slot
    assert.equal(limiter.active, 1);
  });

  it("clears the timer on release, and sets none when maxHoldMs is 0", () => {
    const timers = manualTimers();
    createSnapshotLimiter({ timers }).tryAcquire()?.release();
    assert.equal(timers.pending, 0);
    createSnapshotLimiter({ maxHoldMs: 0, timers }).tryAcquire();
    assert.equal(timers.pending, 0);
  });
});

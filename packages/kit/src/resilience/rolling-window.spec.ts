import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRollingWindow } from "./rolling-window.js";

describe("rolling window", () => {
  it("counts outcomes and expires them a bucket at a time", () => {
    const clock = { t: 0 };
    const window = createRollingWindow({ windowMs: 1000, buckets: 4, now: () => clock.t });
    window.add("success");
    clock.t = 250;
    window.add("failure");
    window.add("drop");
    assert.deepEqual(window.totals(), { requests: 3, successes: 1, failures: 1, drops: 1, failingBuckets: 1, workingBuckets: 0 });
    clock.t = 1000; // the first bucket (0–249 ms) has expired
    assert.equal(window.totals().successes, 0);
    assert.equal(window.totals().requests, 2);
    clock.t = 1250;
    assert.equal(window.totals().requests, 0);
  });

  it("counts streaks of failing and working buckets up to the newest", () => {
    const clock = { t: 0 };
    const window = createRollingWindow({ windowMs: 1000, buckets: 4, now: () => clock.t });
    window.add("failure");
    clock.t = 250;
    window.add("failure");
    clock.t = 500;
    window.add("drop"); // a bucket of drops breaks neither streak
    assert.equal(window.totals().failingBuckets, 2);
    clock.t = 750;
    window.add("success");
    assert.deepEqual(window.totals(), { requests: 4, successes: 1, failures: 2, drops: 1, failingBuckets: 0, workingBuckets: 1 });
  });

  it("reuses a slot left idle for longer than the window", () => {
    const clock = { t: 0 };
    const window = createRollingWindow({ windowMs: 1000, buckets: 4, now: () => clock.t });
    window.add("failure");
    clock.t = 5000; // same slot (5000 / 250 = 20 ≡ 0 mod 4), long stale
    window.add("success");
    assert.deepEqual(window.totals(), { requests: 1, successes: 1, failures: 0, drops: 0, failingBuckets: 0, workingBuckets: 1 });
  });
});

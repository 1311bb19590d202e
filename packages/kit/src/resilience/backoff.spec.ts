import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, checkedBackoff } from "./backoff.js";

describe("backoff", () => {
  const full = checkedBackoff({ initialMs: 100, maxMs: 1000 }, { initialMs: 1, maxMs: 1 });
  const equal = checkedBackoff({ initialMs: 100, maxMs: 1000, jitter: "equal" }, { initialMs: 1, maxMs: 1 });

  it("grows the cap by the multiplier per attempt, up to maxMs", () => {
    const caps = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, full, () => 0.999999));
    assert.deepEqual(caps.map(Math.round), [100, 200, 400, 800, 1000, 1000]);
  });

  it("full jitter spreads over [0, cap), equal jitter over [cap/2, cap)", () => {
    assert.equal(
      backoffDelay(3, full, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(3, equal, () => 0),
      200,
    );
    assert.equal(
      backoffDelay(3, equal, () => 0.5),
      300,
    );
  });

  it("fills defaults and refuses delays that would spin", () => {
    assert.deepEqual(checkedBackoff(undefined, { initialMs: 50, maxMs: 500 }), {
      initialMs: 50,
      maxMs: 500,
      multiplier: 2,
      jitter: "full",
    });
    assert.throws(
      () => checkedBackoff({ initialMs: 0 }, { initialMs: 50, maxMs: 500 }, "retry.backoff"),
      /^RangeError: retry\.backoff\.initialMs must be a positive number \(got 0\)$/,
    );
    assert.throws(() => checkedBackoff({ maxMs: 10 }, { initialMs: 50, maxMs: 500 }), /maxMs \(10\) is below backoff\.initialMs \(50\)/);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRetryBudget } from "./retry-budget.js";

describe("retry budget", () => {
  it("starts full and allows retries while more than half the tokens remain", () => {
    const budget = createRetryBudget({ maxTokens: 10, minRetriesPerSecond: 0 });
    assert.deepEqual(budget.snapshot(), { tokens: 10, maxTokens: 10, retriesAllowed: true, reserveLeft: 0 });
    for (let i = 0; i < 4; i++) budget.onFailure();
    assert.equal(budget.allowRetry(), true);
    budget.onFailure();
    assert.equal(budget.snapshot().tokens, 5);
    assert.equal(budget.allowRetry(), false, "exactly half is not enough");
  });

  it("earns tokenRatio per success, within 0 and maxTokens", () => {
    const budget = createRetryBudget({ maxTokens: 4, tokenRatio: 0.5 });
    for (let i = 0; i < 10; i++) budget.onFailure();
    assert.equal(budget.snapshot().tokens, 0);
    for (let i = 0; i < 5; i++) budget.onSuccess();
    assert.equal(budget.snapshot().tokens, 2.5);
    assert.equal(budget.allowRetry(), true);
    for (let i = 0; i < 10; i++) budget.onSuccess();
    assert.equal(budget.snapshot().tokens, 4);
  });

  it("lets a spent budget through at most minRetriesPerSecond retries a second", () => {
    const clock = { t: 0 };
    const budget = createRetryBudget({ minRetriesPerSecond: 3, now: () => clock.t });
    for (let i = 0; i < 10; i++) budget.onFailure();
    assert.deepEqual(budget.snapshot(), { tokens: 0, maxTokens: 10, retriesAllowed: true, reserveLeft: 3 });
    assert.deepEqual(
      Array.from({ length: 5 }, () => budget.allowRetry()),
      [true, true, true, false, false],
    );
    assert.deepEqual(budget.snapshot(), { tokens: 0, maxTokens: 10, retriesAllowed: false, reserveLeft: 0 });
    clock.t = 999;
    assert.equal(budget.allowRetry(), false, "still the same second");
    clock.t = 1000;
    assert.deepEqual(
      Array.from({ length: 4 }, () => budget.allowRetry()),
      [true, true, true, false],
    );
    assert.throws(() => createRetryBudget({ minRetriesPerSecond: -1 }), /minRetriesPerSecond must be a whole number/);
  });

  it("rejects nonsense settings", () => {
    assert.throws(() => createRetryBudget({ maxTokens: 0 }), RangeError);
    assert.throws(() => createRetryBudget({ maxTokens: Number.POSITIVE_INFINITY }), RangeError);
    assert.throws(() => createRetryBudget({ tokenRatio: 0 }), RangeError);
    assert.throws(() => createRetryBudget({ minRetriesPerSecond: 1.5 }), RangeError);
  });
});

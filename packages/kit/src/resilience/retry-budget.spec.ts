import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRetryBudget } from "./retry-budget.js";

describe("retry budget", () => {
  it("starts full and allows retries while more than half the tokens remain", () => {
    const budget = createRetryBudget({ maxTokens: 10 });
    assert.deepEqual(budget.snapshot(), { tokens: 10, maxTokens: 10, retriesAllowed: true });
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

  it("rejects nonsense settings", () => {
    assert.throws(() => createRetryBudget({ maxTokens: 0 }), RangeError);
    assert.throws(() => createRetryBudget({ maxTokens: Number.POSITIVE_INFINITY }), RangeError);
    assert.throws(() => createRetryBudget({ tokenRatio: 0 }), RangeError);
  });
});

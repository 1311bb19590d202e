import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createP2cEwmaChooser, type EndpointLoad, type P2cEwmaOptions } from "./p2c-ewma-picker.js";

/** A hand-driven clock and a scripted random source. */
function harness(options: P2cEwmaOptions = {}) {
  let time = 0;
  let draws: number[] = [];
  const chooser = createP2cEwmaChooser({
    ...options,
    now: () => time,
    random: () => {
      const next = draws.shift();
      if (next === undefined) throw new Error("random source exhausted");
      return next;
    },
  });
  return {
    chooser,
    advance: (ms: number) => void (time += ms),
    draw: (...values: number[]) => void (draws = values),
  };
}

/** Runs one call of `latencyMs` on `load`. */
function call(load: EndpointLoad, advance: (ms: number) => void, latencyMs: number, outcome: "ok" | "failed" | "cancelled" = "ok"): void {
  const end = load.callStarted();
  advance(latencyMs);
  end(outcome);
}

describe("p2c-EWMA chooser", () => {
  it("scores sqrt(ewma + 1) * (inflight + 1)", () => {
    const { chooser, advance } = harness();
    const load = chooser.track();
    assert.equal(load.score(), 1);
    call(load, advance, 24);
    assert.equal(load.ewmaMs, 24, "the first sample is taken as is");
    assert.equal(load.score(), 5);
    load.callStarted();
    load.callStarted();
    assert.equal(load.inflight, 2);
    assert.equal(load.score(), 15);
  });

  it("prefers the lower score of the two drawn, and draws two distinct endpoints", () => {
    const { chooser, advance, draw } = harness();
    const [fast, slow, busy] = [chooser.track(), chooser.track(), chooser.track()];
    const loads = [fast, slow, busy];
    call(fast, advance, 1);
    call(slow, advance, 50);
    call(busy, advance, 1);
    for (let i = 0; i < 9; i += 1) busy.callStarted();
    // Everyone was just picked, so no re-probe interferes.
    for (const load of loads)
      assert.equal(
        chooser.choose([load], (l) => l),
        load,
      );
    draw(0.5, 0.0); // slow vs fast
    assert.equal(
      chooser.choose(loads, (l) => l),
      fast,
    );
    draw(0.9, 0.6); // busy vs slow: sqrt(2) * 10 ≈ 14.1 loses to sqrt(51) * 1 ≈ 7.1
    assert.equal(
      chooser.choose(loads, (l) => l),
      slow,
    );
    draw(0.0, 0.0); // fast vs slow: the second draw of 0 maps to index 1, never the same endpoint
    assert.equal(
      chooser.choose(loads, (l) => l),
      fast,
    );
    assert.equal(
      chooser.choose([], (l: EndpointLoad) => l),
      undefined,
    );
  });

  it("re-probes an endpoint not picked for more than probeAfterMs, once", () => {
    const { chooser, advance, draw } = harness({ probeAfterMs: 1_000 });
    const [fast, slow] = [chooser.track(), chooser.track()];
    call(fast, advance, 1);
    call(slow, advance, 80);
    chooser.choose([fast], (l) => l);
    chooser.choose([slow], (l) => l);
    const picks: EndpointLoad[] = [];
    for (let i = 0; i < 5; i += 1) {
      advance(300);
      draw(0, 0);
      picks.push(chooser.choose([fast, slow], (l) => l)!);
    }
    // 300, 600, 900 ms: fast; 1200 ms: slow was idle > 1 s → probed once; 1500 ms: fast again.
    assert.deepEqual(
      picks.map((pick) => (pick === fast ? "fast" : "slow")),
      ["fast", "fast", "fast", "slow", "fast"],
    );
  });

  it("decays the EWMA with time: a sample's weight is 1 - exp(-Δt/τ)", () => {
    const { chooser, advance } = harness({ decayMs: 10_000 });
    const load = chooser.track();
    call(load, advance, 100); // ewma 100 at t=100
    advance(10_000 - 1);
    call(load, advance, 1); // Δt = 10 s since the last sample: weight 1 - e^-1
    const expected = 100 * Math.exp(-1) + 1 * (1 - Math.exp(-1));
    assert.ok(Math.abs(load.ewmaMs - expected) < 1e-9, `${load.ewmaMs} ≈ ${expected}`);
    // Samples close together barely move it: the average has a memory of τ, not of N calls.
    const before = load.ewmaMs;
    call(load, advance, 1);
    assert.ok(before - load.ewmaMs < 0.01 * before, "a sample 1 ms after the previous one weighs ~1e-4");
  });

  it("records a failed call as at least failurePenaltyMs and ignores cancelled calls", () => {
    const { chooser, advance } = harness({ failurePenaltyMs: 500 });
    const failing = chooser.track();
    call(failing, advance, 2, "failed");
    assert.equal(failing.ewmaMs, 500);
    const cancelled = chooser.track();
    call(cancelled, advance, 2, "cancelled");
    assert.equal(cancelled.ewmaMs, 0);
    assert.equal(cancelled.inflight, 0);
  });

  it("ends a call once, whatever calls the end function", () => {
    const { chooser } = harness();
    const load = chooser.track();
    const end = load.callStarted();
    end("ok");
    end("ok");
    assert.equal(load.inflight, 0);
  });
});

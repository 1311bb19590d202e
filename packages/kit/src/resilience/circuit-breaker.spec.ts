import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createBreaker, type Breaker, type BreakerOptions } from "./circuit-breaker.js";

/** A seeded PRNG (mulberry32), so drop decisions are random but repeatable. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  sent: number;
  dropped: number;
}

/**
 * Drives a breaker at a steady rate on a fake clock: one call every `everyMs`
 * from `from` to `to`, the backend answering per `healthy(t)`. Returns per-second tallies.
 */
function drive(
  breaker: Breaker,
  clock: { t: number },
  from: number,
  to: number,
  everyMs: number,
  healthy: (t: number) => boolean,
): Tally[] {
  const seconds: Tally[] = [];
  for (clock.t = from; clock.t < to; clock.t += everyMs) {
    const second = Math.floor((clock.t - from) / 1000);
    const tally = (seconds[second] ??= { sent: 0, dropped: 0 });
    const permit = breaker.allow();
    if (permit === undefined) {
      tally.dropped++;
      continue;
    }
    tally.sent++;
    if (healthy(clock.t)) permit.accept();
    else permit.reject();
  }
  return seconds;
}

function setup(options: BreakerOptions = {}): { breaker: Breaker; clock: { t: number } } {
  const clock = { t: 0 };
  return { breaker: createBreaker({ now: () => clock.t, random: seeded(7), ...options }), clock };
}

describe("circuit breaker (SRE adaptive throttling)", () => {
  it("throttles a backend that always fails within about a second at 100 calls/s", () => {
    const { breaker, clock } = setup();
    const [first, second] = drive(breaker, clock, 0, 2000, 10, () => false);
    assert.ok(first && second);
    assert.ok(first.dropped >= 60, `first second: ${JSON.stringify(first)}`);
    assert.ok(second.dropped >= 90, `second second: ${JSON.stringify(second)}`);
    // Never all: a few calls keep probing the backend.
    assert.ok(second.sent >= 1, `second second: ${JSON.stringify(second)}`);
    const snapshot = breaker.snapshot();
    assert.equal(snapshot.state, "throttling");
    assert.ok(snapshot.dropRatio > 0.9, `dropRatio ${snapshot.dropRatio}`);
    assert.equal(snapshot.accepts, 0);
    assert.equal(snapshot.requests, snapshot.failures + snapshot.drops);
  });

  it("lets minRequests failures through before it drops anything", () => {
    const { breaker } = setup({ random: () => 0, minRequests: 5 });
    let sent = 0;
    for (let permit = breaker.allow(); permit !== undefined; permit = breaker.allow()) {
      permit.reject();
      sent++;
    }
    // (requests − 5 − K·0) / (requests + 1) turns positive at the 6th failure.
    assert.equal(sent, 6);
  });

  it("never throttles a backend that answers, whatever the answer", () => {
    const { breaker, clock } = setup({ random: () => 0 });
    const seconds = drive(breaker, clock, 0, 10_000, 10, () => true);
    assert.equal(
      seconds.reduce((n, s) => n + s.dropped, 0),
      0,
    );
    const snapshot = breaker.snapshot();
    assert.deepEqual(
      { ...snapshot, requests: 0, accepts: 0 },
      { requests: 0, accepts: 0, failures: 0, drops: 0, totalDrops: 0, dropRatio: 0, state: "closed" },
    );
    assert.equal(snapshot.accepts, snapshot.requests);
    assert.ok(snapshot.requests > 900, "the window holds about 10 s of calls");
  });

  it("tolerates a backend that fails less than 1 − 1/K of the calls", () => {
    const { breaker, clock } = setup();
    let n = 0;
    // 1 in 5 fails: K·accepts = 1.5 × 0.8 × requests stays above requests.
    const seconds = drive(breaker, clock, 0, 20_000, 10, () => n++ % 5 !== 0);
    assert.equal(
      seconds.reduce((sum, s) => sum + s.dropped, 0),
      0,
    );
    assert.equal(breaker.snapshot().state, "closed");
  });

  it("throttles a backend that fails more than 1 − 1/K of the calls", () => {
    const { breaker, clock } = setup();
    let n = 0;
    // Half fail: K·accepts = 0.75 × requests, short of requests, so drops grow.
    const seconds = drive(breaker, clock, 0, 20_000, 10, () => n++ % 2 === 0);
    const last = seconds.slice(10);
    assert.ok(
      last.every((s) => s.dropped > s.sent),
      JSON.stringify(last),
    );
  });

  it("recovers when the backend heals: accepts grow and drops return to zero", () => {
    const { breaker, clock } = setup();
    const heal = 20_000;
    const seconds = drive(breaker, clock, 0, 40_000, 10, (t) => t >= heal);
    const atHeal = seconds[20];
    const later = seconds.slice(32);
    assert.ok(atHeal && atHeal.dropped > 50, `just after healing: ${JSON.stringify(atHeal)}`);
    for (let s = 21; s < 30; s++) {
      assert.ok(
        (seconds[s]?.sent ?? 0) >= (seconds[s - 1]?.sent ?? 0) - 5,
        `sent per second grows: ${JSON.stringify(seconds.slice(20, 31))}`,
      );
    }
    assert.ok(
      later.every((s) => s.dropped === 0),
      `after a window of health: ${JSON.stringify(later)}`,
    );
    assert.equal(breaker.snapshot().state, "closed");
    assert.equal(breaker.snapshot().failures, 0, "the outage has left the window");
  });

  it("counts every drop in totalDrops, which outlives the window", () => {
    const { breaker, clock } = setup();
    const seconds = drive(breaker, clock, 0, 2000, 10, () => false);
    const dropped = seconds.reduce((n, s) => n + s.dropped, 0);
    assert.ok(dropped > 0);
    assert.equal(breaker.snapshot().totalDrops, dropped);
    clock.t = 60_000;
    assert.equal(breaker.snapshot().drops, 0, "the window forgot them");
    assert.equal(breaker.snapshot().totalDrops, dropped);
  });

  it("forgets failures once the window has slid past them", () => {
    const { breaker, clock } = setup({ random: () => 0 });
    drive(breaker, clock, 0, 1000, 10, () => false);
    assert.equal(breaker.snapshot().state, "throttling");
    clock.t = 5000;
    assert.ok(breaker.snapshot().requests > 0, "half a window later the failures still count");
    clock.t = 11_000;
    const { totalDrops, ...windowed } = breaker.snapshot();
    assert.deepEqual(windowed, { requests: 0, accepts: 0, failures: 0, drops: 0, dropRatio: 0, state: "closed" });
    assert.ok(totalDrops > 0, "the count of every drop outlives the window");
    assert.ok(breaker.allow(), "a call is allowed again");
  });

  it("lets one call through per forcePassMs while it would drop everything", () => {
    const { breaker, clock } = setup({ random: () => 0 });
    const seconds = drive(breaker, clock, 0, 5000, 100, () => false);
    const sent = seconds.reduce((n, s) => n + s.sent, 0);
    // 6 before throttling starts (minRequests + 1), then one probe per second or so.
    assert.ok(sent >= 6 + 3 && sent <= 6 + 5, `sent ${sent}`);
  });

  it("counts a permit once, however often it is settled", () => {
    const { breaker } = setup();
    const permit = breaker.allow();
    assert.ok(permit);
    permit.accept();
    permit.accept();
    permit.reject();
    assert.equal(breaker.snapshot().requests, 1);
    assert.equal(breaker.snapshot().accepts, 1);
  });

  it("rejects nonsense window settings", () => {
    assert.throws(() => createBreaker({ buckets: 0 }), RangeError);
    assert.throws(() => createBreaker({ windowMs: 0 }), RangeError);
  });
});

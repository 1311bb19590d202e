import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createTimeSlicer } from "./time-slicer.js";

/** A clock the test moves and an event loop it turns by hand. */
function manualLoop(): { now: () => number; advance(ms: number): void; schedule: (callback: () => void) => void; turn(): void } {
  let time = 0;
  let pending: (() => void)[] = [];
  return {
    now: () => time,
    advance: (ms) => void (time += ms),
    schedule: (callback) => void pending.push(callback),
    turn: () => {
      const due = pending;
      pending = [];
      for (const callback of due) callback();
    },
  };
}

describe("createTimeSlicer", () => {
  it("lets work run without waiting while its slice lasts", () => {
    const loop = manualLoop();
    const slicer = createTimeSlicer({ sliceMs: 10, now: loop.now, schedule: loop.schedule });
    for (let i = 0; i < 5; i += 1) {
      assert.equal(slicer.turn(), undefined);
      loop.advance(1.9);
    }
  });

  it("makes work wait for a loop turn once it ran for the slice, then starts a new slice", async () => {
    const loop = manualLoop();
    const slicer = createTimeSlicer({ sliceMs: 10, now: loop.now, schedule: loop.schedule });
    assert.equal(slicer.turn(), undefined);
    loop.advance(10);
    const wait = slicer.turn();
    assert.ok(wait instanceof Promise);
    let resumed = false;
    void wait.then(() => (resumed = true));
    await Promise.resolve();
    assert.equal(resumed, false, "still waiting: no loop turn yet");
    loop.turn();
    await wait;
    assert.equal(slicer.turn(), undefined, "a new slice after the turn");
  });

  it("starts a fresh slice after any loop turn, however long ago the last work ran", () => {
    const loop = manualLoop();
    const slicer = createTimeSlicer({ sliceMs: 10, now: loop.now, schedule: loop.schedule });
    assert.equal(slicer.turn(), undefined);
    loop.advance(5);
    loop.turn();
    loop.advance(60_000);
    assert.equal(slicer.turn(), undefined);
  });

  it("lets a real timer fire between chained promise-only work items", async () => {
    const slicer = createTimeSlicer({ sliceMs: 0 });
    let fired = false;
    let doneBeforeTimer = 0;
    setTimeout(() => (fired = true), 0);
    for (let i = 0; i < 1000 && !fired; i += 1) {
      await slicer.turn();
      doneBeforeTimer += 1;
    }
    assert.ok(fired, "the timer fired while work was still queued");
    assert.ok(doneBeforeTimer < 1000);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError } from "@trellis/kit";
import { createEventQueue } from "./event-queue.js";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("event queue", () => {
  it("yields pushed items in order and ends", async () => {
    const queue = createEventQueue<number>(10);
    const drained = collect(queue.drain(new AbortController().signal));
    queue.push(1);
    queue.push(2);
    queue.end();
    assert.deepEqual(await drained, [1, 2]);
  });

  it("fails with RESOURCE_EXHAUSTED instead of growing past its bound, dropping what it held", async () => {
    const queue = createEventQueue<number>(3);
    for (let i = 0; i < 10; i += 1) queue.push(i);
    await assert.rejects(
      collect(queue.drain(new AbortController().signal)),
      (e: unknown) => e instanceof RpcError && e.code === Code.RESOURCE_EXHAUSTED,
    );
  });

  it("delivers queued items before a failure", async () => {
    const queue = createEventQueue<number>(10);
    queue.push(1);
    queue.fail(new RpcError(Code.FAILED_PRECONDITION, "bad request"));
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const item of queue.drain(new AbortController().signal)) seen.push(item);
    }, /bad request/);
    assert.deepEqual(seen, [1]);
  });

  it("stops when the signal aborts", async () => {
    const queue = createEventQueue<number>(10);
    const controller = new AbortController();
    const drained = collect(queue.drain(controller.signal));
    controller.abort();
    assert.deepEqual(await drained, []);
  });
});

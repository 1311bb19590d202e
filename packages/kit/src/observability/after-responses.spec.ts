import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterResponses, createDeferredQueue } from "./after-responses.js";

describe("afterResponses / createDeferredQueue", () => {
  it("runs deferred work after what the same turn queued with setImmediate (where Node writes HTTP/2 frames)", async () => {
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      afterResponses(() => {
        order.push("deferred");
        resolve();
      });
      setImmediate(() => order.push("response frames"));
    });
    await done;
    assert.deepEqual(order, ["response frames", "deferred"]);
  });

  it("runs the work queued in one turn together, in order", async () => {
    const runs: (() => void)[] = [];
    const queue = createDeferredQueue((run) => runs.push(run));
    const seen: number[] = [];
    queue.defer(() => seen.push(1));
    queue.defer(() => seen.push(2));
    assert.equal(runs.length, 1, "one scheduled run per batch");
    assert.deepEqual(seen, []);
    runs[0]?.();
    assert.deepEqual(seen, [1, 2]);
  });

  it("runs a batch outside the context of the call that queued it first (its log lines carry no other call's trace ids)", async () => {
    const storage = new AsyncLocalStorage<string>();
    const queue = createDeferredQueue();
    const seen = await new Promise<(string | undefined)[]>((resolve) => {
      const stores: (string | undefined)[] = [];
      storage.run("call 1", () => queue.defer(() => stores.push(storage.getStore())));
      storage.run("call 2", () => queue.defer(() => resolve([...stores, storage.getStore()])));
    });
    assert.deepEqual(seen, [undefined, undefined]);
  });

  it("runs what is queued when the process exits in the same turn", async () => {
    const module = fileURLToPath(new URL("./after-responses.js", import.meta.url));
    const script = `
      const { createDeferredQueue } = await import(${JSON.stringify(module)});
      const queue = createDeferredQueue();
      queue.defer(() => process.stdout.write("written\\n"));
      process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    assert.equal(stdout, "written\n");
  });
});

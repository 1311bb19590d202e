import assert from "node:assert/strict";
import { RpcError } from "../errors/rpc-error.js";

/**
 * The RpcError a call (a promise, or a function that throws or rejects)
 * fails with; fails the test if it succeeds or throws anything else.
 */
export async function rpcFailure(call: Promise<unknown> | (() => unknown)): Promise<RpcError> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (error) {
    assert.ok(error instanceof RpcError, `expected an RpcError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

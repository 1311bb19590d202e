import { AsyncLocalStorage } from "node:async_hooks";
import type { CallContext } from "./call-context.js";

/**
 * The server call being handled, for code that makes calls of its own while
 * handling it (the client's deadline interceptor inherits its remaining budget
 * and cancellation). An AsyncLocalStorage, like OpenTelemetry's context: the one
 * piece of process-wide state the kit keeps, because propagation across awaits
 * has no other carrier.
 */
export const callContextStorage = new AsyncLocalStorage<CallContext>();

/** The CallContext of the server call this code runs for, if any. */
export function currentCallContext(): CallContext | undefined {
  return callContextStorage.getStore();
}

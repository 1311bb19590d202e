import { randomUUID } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import type { CallContext } from "../call/call-context.js";
import type { UnaryRequest } from "../call/interceptor.js";
import { createContextValues, type ContextValues } from "../call/context-values.js";
import type { HeadersInit } from "../call/headers.js";
import { Code } from "../errors/code.js";
import { RpcError } from "../errors/rpc-error.js";
import { createLogger, type Logger } from "../observability/logger.js";

/** Options of {@link createTestCallContext}. */
export interface TestCallContextOptions {
  /** The method being called (e.g. `UserService.method.getUser`). */
  readonly method: DescMethod;
  /** @default "server" */
  readonly side?: "server" | "client";
  /** Epoch milliseconds. @default none */
  readonly deadline?: number;
  /** Used as is (then `abort()` does nothing). @default a signal only `abort()` fires */
  readonly signal?: AbortSignal;
  /** @default none */
  readonly requestHeader?: HeadersInit;
  /** @default the request header's `x-request-id`, else a random UUID */
  readonly requestId?: string;
  /** @default "test" */
  readonly peer?: string;
  /** Client calls: the channel target. @default undefined */
  readonly target?: string;
  /** Client calls: the server call it is made for. @default undefined */
  readonly parent?: CallContext;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** @default empty */
  readonly values?: ContextValues;
}

/** A CallContext for tests, with `abort()` to play a cancelled call. */
export interface TestCallContext extends CallContext {
  /** Fires the signal with an RpcError (CANCELLED unless `reason` says otherwise); not when a signal was given. */
  abort(reason?: RpcError): void;
}

/**
 * A CallContext without a server or a network, so a handler or an interceptor
 * is unit-tested as a plain function:
 *
 * ```ts
 * const context = createTestCallContext({ method: UserService.method.getUser });
 * const reply = await handlers.getUser({ id }, context);
 * assert.equal(context.responseTrailer.get("x-cache"), "miss");
 * ```
 */
export function createTestCallContext(options: TestCallContextOptions): TestCallContext {
  const controller = new AbortController();
  const requestHeader = new Headers(options.requestHeader);
  const signal = options.signal ?? controller.signal;
  return {
    side: options.side ?? "server",
    method: options.method,
    signal,
    deadline: options.deadline,
    requestHeader,
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: options.values ?? createContextValues(),
    requestId: options.requestId ?? requestHeader.get("x-request-id") ?? randomUUID(),
    peer: options.peer ?? "test",
    logger: options.logger ?? createLogger({ level: "silent" }),
    ...(options.target === undefined ? {} : { target: options.target }),
    ...(options.parent === undefined ? {} : { parent: options.parent }),
    abort: (reason) => controller.abort(reason ?? new RpcError(Code.CANCELLED, "call cancelled by the test")),
  };
}

/** A unary request on a test context, to drive an interceptor directly. */
export function createTestRequest(
  options: TestCallContextOptions & { readonly message: object },
): UnaryRequest & { readonly context: TestCallContext } {
  const { message, ...contextOptions } = options;
  return { stream: false, method: options.method, context: createTestCallContext(contextOptions), message };
}

import { setTimeout as sleep } from "node:timers/promises";
import { Code, RpcError } from "../errors/rpc-error.js";
import { resourceInfo } from "../errors/error-details.js";
import type { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import type { ServiceImpl } from "../server/service-impl.js";
import type { CallContext } from "../call/call-context.js";

/** What the echo handlers saw, for tests to assert on. */
export interface EchoProbe {
  /** Resolves with the abort reason of each call whose signal fired. */
  readonly aborted: Promise<unknown>[];
  /** Number of calls that ran to completion. */
  completed: number;
}

/** Handlers for the kit's test-only EchoService (not part of the public API). */
export function createEchoHandlers(probe: EchoProbe = { aborted: [], completed: 0 }): ServiceImpl<typeof EchoService> {
  const watch = (context: CallContext): void => {
    probe.aborted.push(
      new Promise((resolve) => context.signal.addEventListener("abort", () => resolve(context.signal.reason), { once: true })),
    );
  };
  return {
    async echo(request, context) {
      watch(context);
      if (request.delayMs > 0) await sleep(request.delayMs, undefined, { signal: context.signal });
      if (request.failWith === "internal") throw new Error("database password is hunter2");
      if (request.failWith === "not_found") {
        throw new RpcError(Code.NOT_FOUND, `thing ${request.text} not found`, {
          details: [resourceInfo("thing", request.text)],
        });
      }
      probe.completed += 1;
      return { text: request.text, requestId: context.requestId };
    },
    async *echoStream(request, context) {
      watch(context);
      for (let index = 0; request.count === 0 || index < request.count; index += 1) {
        yield { text: request.text, index };
        await sleep(5, undefined, { signal: context.signal });
      }
      probe.completed += 1;
    },
    async collect(requests, context) {
      watch(context);
      const texts: string[] = [];
      for await (const request of requests) texts.push(request.text);
      probe.completed += 1;
      return { texts };
    },
    async *converse(requests, context) {
      watch(context);
      for await (const request of requests) yield { text: request.text.toUpperCase() };
      probe.completed += 1;
    },
  };
}

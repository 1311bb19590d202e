import { setTimeout as sleep } from "node:timers/promises";
import { Code, RpcError, remainingMs, type CallContext, type ServiceImpl } from "@trellis/kit";
import type { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

/** What the fake user service saw of each GetUser call. */
export interface GetUserObservation {
  readonly id: string;
  /** Milliseconds left before the call's deadline when it arrived (Infinity without one). */
  readonly budgetMs: number;
  /** Resolves with the abort reason if the call was cancelled or timed out. */
  readonly aborted: Promise<unknown>;
}

/** A stand-in UserService for chat's tests: GetUser from a map, optionally slow. */
export interface FakeUserService {
  readonly impl: ServiceImpl<typeof UserService>;
  readonly users: Map<string, string>;
  readonly calls: GetUserObservation[];
  /** Delay before each GetUser answers (honouring cancellation). */
  delayMs: number;
}

/** Creates the fake; only GetUser is implemented, the rest answer UNIMPLEMENTED. */
export function createFakeUserService(): FakeUserService {
  const unimplemented = (): never => {
    throw new RpcError(Code.UNIMPLEMENTED, "not in the fake");
  };
  const fake: FakeUserService = {
    users: new Map(),
    calls: [],
    delayMs: 0,
    impl: {
      async getUser(request, context: CallContext) {
        fake.calls.push({
          id: request.id,
          budgetMs: remainingMs(context),
          aborted: new Promise((resolve) => context.signal.addEventListener("abort", () => resolve(context.signal.reason), { once: true })),
        });
        if (fake.delayMs > 0) await sleep(fake.delayMs, undefined, { signal: context.signal });
        const name = fake.users.get(request.id);
        if (name === undefined) throw new RpcError(Code.NOT_FOUND, `user ${request.id} not found`);
        return { user: { id: request.id, email: `${name.toLowerCase()}@example.com`, displayName: name } };
      },
      createUser: async () => unimplemented(),
      updateUser: async () => unimplemented(),
      deleteUser: async () => unimplemented(),
      listUsers: async () => unimplemented(),
      // eslint-disable-next-line require-yield
      async *watchUsers() {
        unimplemented();
      },
      importUsers: async () => unimplemented(),
    },
  };
  return fake;
}

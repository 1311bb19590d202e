import { LRUCache } from "lru-cache";
import { Code, preconditionFailure, retryInfo, RpcError, type CallContext, type Client } from "@trellis/kit";
import { isBreakerFailure } from "@trellis/kit/errors";
import type { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

/** A resolved sender. */
export interface Sender {
  readonly id: string;
  readonly displayName: string;
}

/** Finds users through the user service. */
export interface UserDirectory {
  /**
   * The user with this id. `parent` is the chat call being handled: the lookup
   * gets at most its remaining budget and is cancelled with it.
   * @throws RpcError FAILED_PRECONDITION for an unknown user; UNAVAILABLE while the user service is unreachable
   */
  resolve(userId: string, parent?: CallContext): Promise<Sender>;
}

/** Options of {@link createUserDirectory}. */
export interface UserDirectoryOptions {
  /** Users kept in memory. @default 1000 */
  readonly maxEntries?: number;
  /** How long a cached user is trusted (renames show up after this). @default 30_000 */
  readonly ttlMs?: number;
  /** Timeout of one lookup; the calling chat request's deadline still applies. @default 1000 */
  readonly timeoutMs?: number;
  /** The clock cached users expire by, in milliseconds. @default performance.now */
  readonly now?: () => number;
}

/** Whether a user-service status means "not reachable right now" rather than a wrong request: the kit's unhealthy-backend class. */
const isOutage = (code: Code): boolean => isBreakerFailure(code) || code === Code.UNKNOWN;

/**
 * Resolves senders through UserService with a small bounded LRU cache, and turns
 * user-service failures into statuses a chat client can act on: an unknown
 * sender is the client's problem (FAILED_PRECONDITION), an outage is transient
 * (UNAVAILABLE with RetryInfo), so chat degrades clearly instead of hanging.
 */
export function createUserDirectory(users: Pick<Client<typeof UserService>, "getUser">, options: UserDirectoryOptions = {}): UserDirectory {
  const cache = new LRUCache<string, Sender>({
    max: options.maxEntries ?? 1000,
    ttl: options.ttlMs ?? 30_000,
    // Read the given clock on every lookup (the default caches it for a millisecond).
    ...(options.now === undefined ? {} : { perf: { now: options.now }, ttlResolution: 0 }),
  });
  const timeoutMs = options.timeoutMs ?? 1000;
  return {
    async resolve(userId, parent) {
      const cached = cache.get(userId);
      if (cached !== undefined) return cached;
      try {
        const { user } = await users.getUser({ id: userId }, { timeoutMs, ...(parent === undefined ? {} : { parent }) });
        if (user === undefined) throw new Error("GetUser returned no user");
        const sender = { id: user.id, displayName: user.displayName };
        cache.set(userId, sender);
        return sender;
      } catch (error) {
        if (error instanceof RpcError && error.code === Code.NOT_FOUND) {
          throw new RpcError(Code.FAILED_PRECONDITION, `user ${userId} does not exist`, {
            details: [
              preconditionFailure([{ type: "USER", subject: `users/${userId}`, description: "the sender must be an existing user" }]),
            ],
          });
        }
        if (error instanceof RpcError && isOutage(error.code)) {
          throw new RpcError(Code.UNAVAILABLE, `user service unavailable (${error.message}); try again`, {
            details: [retryInfo(1000)],
            cause: error,
          });
        }
        throw error;
      }
    },
  };
}

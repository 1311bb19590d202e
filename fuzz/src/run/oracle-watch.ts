import { ChangeType, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import type { UserChange } from "../oracle/user-ledger.js";
import type { PlainClient, PlainStream } from "./plain-client.js";

/**
 * A well-behaved WatchUsers stream, open for the whole run: every change the
 * user service commits, in order. It starts with a snapshot so that it is
 * known to be live before the first write, and resumes after the last token it
 * saw if the server ends it.
 */
export interface OracleWatch {
  /** The changes since the last take. */
  take(): UserChange[];
  /** Resume tokens seen (for the fuzzer's token pool), oldest first. */
  readonly resumeTokens: readonly string[];
  /** Resolves once the change for user `id` has arrived; rejects after `timeoutMs`. */
  waitForChange(id: string, timeoutMs: number): Promise<void>;
  close(): void;
}

const MAX_TOKENS = 200;
/** Resumptions in a row that bring no change before the watch is given up as broken. */
const MAX_BARREN_RESUMES = 5;

/** Opens the watch and waits until its snapshot has ended. */
export async function openOracleWatch(client: PlainClient): Promise<OracleWatch> {
  const changes: UserChange[] = [];
  const tokens: string[] = [];
  const waiters = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  let broken: Error | undefined;
  let closed = false;
  let current: PlainStream<unknown> | undefined;
  let live: () => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    live = resolve;
    failed = reject;
  });

  const follow = async (): Promise<void> => {
    let snapshot = true;
    let barren = 0;
    for (;;) {
      const before = changes.length + tokens.length;
      try {
        const resumeToken = tokens.at(-1) ?? "";
        const stream = client.serverStream(UserService.method.watchUsers, snapshot ? { includeSnapshot: true } : { resumeToken });
        current = stream;
        for await (const change of stream.messages) {
          if (change.resumeToken !== "") {
            tokens.push(change.resumeToken);
            if (tokens.length > MAX_TOKENS) tokens.splice(0, tokens.length - MAX_TOKENS);
          }
          if (change.type === ChangeType.SNAPSHOT_END) {
            snapshot = false;
            live();
            continue;
          }
          if (change.type === ChangeType.EXISTING) continue;
          const id = change.user?.id ?? "";
          const type =
            change.type === ChangeType.CREATED
              ? "created"
              : change.type === ChangeType.UPDATED
                ? "updated"
                : change.type === ChangeType.DELETED
                  ? "deleted"
                  : "other";
          changes.push({ type, id, email: change.user?.email ?? "" });
          waiters.get(id)?.resolve();
        }
      } catch (error) {
        if (closed) return;
        if (snapshot) {
          failed(error as Error);
          return;
        }
        // The server ended the stream (or the connection went): resume.
      }
      if (closed) return;
      barren = changes.length + tokens.length === before ? barren + 1 : 0;
      if (barren >= MAX_BARREN_RESUMES) {
        broken = new Error(`the oracle WatchUsers stream ended ${barren} times in a row without a change`);
        for (const waiter of waiters.values()) waiter.reject(broken);
        return;
      }
    }
  };
  void follow();
  await ready;

  return {
    take: () => changes.splice(0, changes.length),
    resumeTokens: tokens,
    waitForChange(id, timeoutMs) {
      if (changes.some((c) => c.id === id)) return Promise.resolve();
      if (broken !== undefined) return Promise.reject(broken);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(new Error(`the oracle watch did not see the change for ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
        const settle = (): void => {
          clearTimeout(timer);
          waiters.delete(id);
        };
        waiters.set(id, {
          resolve: () => {
            settle();
            resolve();
          },
          reject: (error) => {
            settle();
            reject(error);
          },
        });
      });
    },
    close() {
      closed = true;
      current?.cancel();
    },
  };
}

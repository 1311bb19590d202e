import type { ChatRepository, NewMessage, RoomEvent, StoredMessage } from "../internal/chat-repository.js";

/** Options of {@link createMemoryChatRepository}. */
export interface MemoryChatRepositoryOptions {
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * History kept per room; older messages are dropped, so a long benchmark or
   * demo does not grow without bound (~0.7 KB of heap per message). @default 10_000
   */
  readonly maxMessagesPerRoom?: number;
}

/**
 * Chat storage in process memory, for benchmarks and single-process demos:
 * the newest messages are kept per room and events fanned out to this process
 * only. Nothing survives a restart and other instances see nothing.
 */
export function createMemoryChatRepository(options: MemoryChatRepositoryOptions = {}): ChatRepository {
  const now = options.now ?? (() => new Date());
  const maxMessagesPerRoom = options.maxMessagesPerRoom ?? 10_000;
  const rooms = new Map<string, StoredMessage[]>();
  const listeners = new Set<(event: RoomEvent) => void>();
  let sequence = 0n;
  const emit = (event: RoomEvent): void => {
    for (const listener of [...listeners]) listener(event);
  };
  return {
    async append(message: NewMessage) {
      sequence += 1n;
      const stored: StoredMessage = { ...message, sequence, sendTime: now() };
      const history = rooms.get(message.room) ?? [];
      history.push(stored);
      // Drop in batches so appends stay O(1) amortised.
      if (history.length >= 2 * maxMessagesPerRoom) history.splice(0, history.length - maxMessagesPerRoom);
      rooms.set(message.room, history);
      queueMicrotask(() => emit({ type: "message", message: stored }));
      return stored;
    },
    async history(room, { limit, before }) {
      const history = rooms.get(room) ?? [];
      const out: StoredMessage[] = [];
      const oldest = Math.max(0, history.length - maxMessagesPerRoom);
      for (let i = history.length - 1; i >= oldest && out.length < limit; i -= 1) {
        const message = history[i]!;
        if (before === undefined || message.sequence < before) out.push(message);
      }
      return out;
    },
    async announcePresence(change) {
      queueMicrotask(() => emit({ type: "presence", presence: change }));
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      listeners.clear();
    },
  };
}

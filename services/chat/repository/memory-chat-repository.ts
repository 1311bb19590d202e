import type { ChatRepository, NewMessage, RoomEvent, StoredMessage } from "../internal/chat-repository.js";

/**
 * Chat storage in process memory, for benchmarks and single-process demos:
 * messages are kept per room and events fanned out to this process only.
 * Nothing survives a restart and other instances see nothing.
 */
export function createMemoryChatRepository(options: { readonly now?: () => Date } = {}): ChatRepository {
  const now = options.now ?? (() => new Date());
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
      rooms.set(message.room, history);
      queueMicrotask(() => emit({ type: "message", message: stored }));
      return stored;
    },
    async history(room, { limit, before }) {
      const history = rooms.get(room) ?? [];
      const out: StoredMessage[] = [];
      for (let i = history.length - 1; i >= 0 && out.length < limit; i -= 1) {
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

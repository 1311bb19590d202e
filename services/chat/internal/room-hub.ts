import type { ChatRepository, RoomEvent } from "./chat-repository.js";

/** Delivers each room event to this instance's subscribers of that room. */
export interface RoomHub {
  /** Calls `deliver` with every event of `room` until the returned function is called. */
  subscribe(room: string, deliver: (event: RoomEvent) => void): () => void;
  /** Stops listening to the repository. */
  close(): void;
}

/**
 * Fans the repository's cross-instance event stream out to local subscribers,
 * indexed by room so an event costs work only for that room's streams.
 */
export function createRoomHub(repository: ChatRepository): RoomHub {
  const rooms = new Map<string, Set<(event: RoomEvent) => void>>();
  const roomOf = (event: RoomEvent): string => (event.type === "message" ? event.message.room : event.presence.room);
  const stop = repository.onEvent((event) => {
    const subscribers = rooms.get(roomOf(event));
    if (subscribers === undefined) return;
    for (const deliver of [...subscribers]) deliver(event);
  });
  return {
    subscribe(room, deliver) {
      let subscribers = rooms.get(room);
      if (subscribers === undefined) {
        subscribers = new Set();
        rooms.set(room, subscribers);
      }
      subscribers.add(deliver);
      return () => {
        subscribers.delete(deliver);
        if (subscribers.size === 0) rooms.delete(room);
      };
    },
    close: stop,
  };
}

/**
 * The storage and fan-out contract the chat business layer needs; owned here and
 * implemented in `repository/` (api → internal ← repository).
 */

/** A stored chat message. */
export interface StoredMessage {
  /** Position in the room's history; increases with every message. */
  readonly sequence: bigint;
  readonly id: string;
  readonly room: string;
  readonly senderId: string;
  readonly senderName: string;
  readonly text: string;
  readonly sendTime: Date;
}

/** What `append` stores. */
export interface NewMessage {
  readonly id: string;
  readonly room: string;
  readonly senderId: string;
  readonly senderName: string;
  readonly text: string;
}

/** Someone joined or left a room. */
export interface PresenceChange {
  readonly room: string;
  readonly userId: string;
  readonly displayName: string;
  readonly kind: "joined" | "left";
}

/** Something every instance's subscribers of a room must see. */
export type RoomEvent =
  { readonly type: "message"; readonly message: StoredMessage } | { readonly type: "presence"; readonly presence: PresenceChange };

/** Storage of messages, and fan-out of room events to every instance sharing the database. */
export interface ChatRepository {
  /** Stores the message and announces it to every instance (including this one). */
  append(message: NewMessage): Promise<StoredMessage>;
  /** A room's messages, newest first, strictly before `before` when given. */
  history(room: string, options: { readonly limit: number; readonly before?: bigint }): Promise<readonly StoredMessage[]>;
  /** Announces a presence change to every instance (not stored). */
  announcePresence(change: PresenceChange): Promise<void>;
  /** Calls `listener` with every room event announced by any instance. Returns the unsubscribe function. */
  onEvent(listener: (event: RoomEvent) => void): () => void;
  close(): Promise<void>;
}

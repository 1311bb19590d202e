import type { SqlExecutor, SqlRow } from "@trellis/sql";
import type { ChatRepository, NewMessage, PresenceChange, RoomEvent, StoredMessage } from "../internal/chat-repository.js";

/** The NOTIFY channel every chat instance listens on. */
export const CHAT_EVENTS_CHANNEL = "trellis_chat_events";

const COLUMNS = "seq, id, room, sender_id, sender_name, text, send_time";

/**
 * Chat storage over PostgreSQL or PGlite. Live fan-out goes through
 * LISTEN/NOTIFY so that subscribers on every instance sharing the database see
 * every message: a NOTIFY carries only the message id (payloads are capped at
 * 8000 bytes; a 2000-character message may exceed that) and each instance reads
 * the row once. Presence changes are small and travel in the payload.
 */
export function createSqlChatRepository(executor: SqlExecutor): ChatRepository {
  const listeners = new Set<(event: RoomEvent) => void>();
  let unlisten: Promise<() => Promise<void>> | undefined;

  const emit = (event: RoomEvent): void => {
    for (const listener of [...listeners]) listener(event);
  };
  // Events are delivered in the order their notifications arrived (commit order). A message
  // needs its row read first and a presence change does not, and reads on a pool can finish
  // in any order: without this chain, "post, then leave" reached other clients as LEFT first.
  let delivered: Promise<void> = Promise.resolve();
  const inOrder = (deliver: () => Promise<RoomEvent | undefined>): void => {
    // Started at once; only the emitting waits for the events before it. A failed read skips
    // its event: the row is in the history, and live delivery is best effort.
    const next = deliver().catch(() => undefined);
    delivered = delivered
      .then(async () => {
        const event = await next;
        if (event !== undefined) emit(event);
      })
      .catch(() => undefined); // a throwing listener must not stop the events after it
  };
  const onNotification = (payload: string | undefined): void => {
    if (payload === undefined) return;
    let parsed: { t?: unknown; id?: unknown; p?: unknown };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return; // Not ours: another tool wrote to the channel.
    }
    if (parsed.t === "m" && typeof parsed.id === "string") {
      const id = parsed.id;
      inOrder(async () => {
        const [row] = await executor.query(`SELECT ${COLUMNS} FROM chat_messages WHERE id = $1`, [id]);
        return row === undefined ? undefined : { type: "message", message: toMessage(row) };
      });
    } else if (parsed.t === "p" && isPresence(parsed.p)) {
      const presence = parsed.p;
      inOrder(async () => ({ type: "presence", presence }));
    }
  };

  return {
    async append(message: NewMessage) {
      const stored = await executor.transaction(async (tx) => {
        const rows = await tx.query(
          `INSERT INTO chat_messages (id, room, sender_id, sender_name, text) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
          [message.id, message.room, message.senderId, message.senderName, message.text],
        );
        await tx.query("SELECT pg_notify($1, $2)", [CHAT_EVENTS_CHANNEL, JSON.stringify({ t: "m", id: message.id })]);
        return toMessage(rows[0]!);
      });
      return stored;
    },
    async history(room, options) {
      const rows =
        options.before === undefined
          ? await executor.query(`SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 ORDER BY seq DESC LIMIT $2`, [room, options.limit])
          : await executor.query(`SELECT ${COLUMNS} FROM chat_messages WHERE room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, [
              room,
              options.before.toString(),
              options.limit,
            ]);
      return rows.map(toMessage);
    },
    async announcePresence(change: PresenceChange) {
      await executor.query("SELECT pg_notify($1, $2)", [CHAT_EVENTS_CHANNEL, JSON.stringify({ t: "p", p: change })]);
    },
    onEvent(listener) {
      listeners.add(listener);
      unlisten ??= executor.listen(CHAT_EVENTS_CHANNEL, onNotification);
      return () => void listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      if (unlisten !== undefined) await (await unlisten)();
      await executor.close();
    },
  };
}

function toMessage(row: SqlRow): StoredMessage {
  return {
    sequence: BigInt(row.seq as string | number),
    id: row.id as string,
    room: row.room as string,
    senderId: row.sender_id as string,
    senderName: row.sender_name as string,
    text: row.text as string,
    sendTime: new Date(row.send_time as string | Date),
  };
}

function isPresence(value: unknown): value is PresenceChange {
  const p = value as Partial<PresenceChange> | null;
  return (
    typeof p === "object" &&
    p !== null &&
    typeof p.room === "string" &&
    typeof p.userId === "string" &&
    typeof p.displayName === "string" &&
    (p.kind === "joined" || p.kind === "left")
  );
}

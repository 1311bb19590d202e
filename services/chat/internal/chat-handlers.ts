import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, RpcError, type ServiceImpl } from "@trellis/kit";
import {
  ChatEventSchema,
  ChatMessageSchema,
  PresenceEvent_Kind,
  type ChatEvent,
  type ChatMessage,
  type ChatRequest,
  type ChatService,
} from "@trellis/api/trellis/chat/v1/chat_pb.js";
import type { ChatRepository, RoomEvent, StoredMessage } from "./chat-repository.js";
import { createEventQueue } from "./event-queue.js";
import { decodeHistoryToken, encodeHistoryToken } from "./history-token.js";
import type { RoomHub } from "./room-hub.js";
import type { Sender, UserDirectory } from "./user-directory.js";

/** What the chat handlers need. */
export interface ChatHandlerDeps {
  readonly repository: ChatRepository;
  readonly hub: RoomHub;
  readonly users: UserDirectory;
  /** @default crypto.randomUUID */
  readonly newId?: () => string;
  /** Events a stream may have waiting before its client counts as not reading. @default 1000 */
  readonly maxQueuedEvents?: number;
  /** Rooms one Chat stream may be in at once. @default 20 */
  readonly maxRoomsPerStream?: number;
  /** History page size when the request says 0. @default 50 */
  readonly defaultPageSize?: number;
  /** @default 500 */
  readonly maxPageSize?: number;
}

/** The ChatService handlers. */
export function createChatHandlers(deps: ChatHandlerDeps): ServiceImpl<typeof ChatService> {
  const { repository, hub, users } = deps;
  const newId = deps.newId ?? randomUUID;
  const maxQueued = deps.maxQueuedEvents ?? 1000;
  const maxRooms = deps.maxRoomsPerStream ?? 20;
  const defaultPageSize = deps.defaultPageSize ?? 50;
  const maxPageSize = deps.maxPageSize ?? 500;

  const post = async (room: string, sender: Sender, text: string): Promise<StoredMessage> =>
    repository.append({ id: newId(), room, senderId: sender.id, senderName: sender.displayName, text });

  return {
    async send(request, context) {
      const sender = await users.resolve(request.senderId, context);
      return { message: toChatMessage(await post(request.room, sender, request.text)) };
    },

    async history(request) {
      const limit = Math.min(request.pageSize === 0 ? defaultPageSize : request.pageSize, maxPageSize);
      const before = request.pageToken === "" ? undefined : decodeHistoryToken(request.pageToken, request.room);
      const rows = await repository.history(request.room, { limit: limit + 1, ...(before === undefined ? {} : { before }) });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        messages: page.map(toChatMessage),
        nextPageToken: rows.length > limit && last !== undefined ? encodeHistoryToken(request.room, last.sequence) : "",
      };
    },

    async *subscribe(request, context) {
      const queue = createEventQueue<RoomEvent>(maxQueued);
      const unsubscribe = hub.subscribe(request.room, (event) => queue.push(event));
      // Subscribed: every later event of the room reaches this stream. The response headers say
      // so now, so a client can read History and miss nothing, however quiet the room is.
      context.sendHeader?.();
      try {
        for await (const event of queue.drain(context.signal)) yield { event: toChatEvent(event) };
      } finally {
        unsubscribe();
      }
    },

    async *chat(requests, context) {
      const queue = createEventQueue<RoomEvent>(maxQueued);
      const joined = new Map<string, () => void>();
      let sender: Sender | undefined;

      const handle = async (request: ChatRequest): Promise<void> => {
        const action = request.action;
        switch (action.case) {
          case "join": {
            const { room, userId } = action.value;
            if (sender === undefined) {
              if (userId === "") throw failedPrecondition("the first join of a stream must name the user (user_id)");
              sender = await users.resolve(userId, context);
            } else if (userId !== "" && userId !== sender.id) {
              throw new RpcError(Code.INVALID_ARGUMENT, "a stream belongs to one user; open another stream for another user");
            }
            if (joined.has(room)) return;
            if (joined.size >= maxRooms) throw new RpcError(Code.RESOURCE_EXHAUSTED, `a stream may be in at most ${maxRooms} rooms`);
            joined.set(
              room,
              hub.subscribe(room, (event) => queue.push(event)),
            );
            await repository.announcePresence({ room, userId: sender.id, displayName: sender.displayName, kind: "joined" });
            return;
          }
          case "leave": {
            const unsubscribe = joined.get(action.value.room);
            if (unsubscribe === undefined || sender === undefined) return;
            unsubscribe();
            joined.delete(action.value.room);
            await repository.announcePresence({
              room: action.value.room,
              userId: sender.id,
              displayName: sender.displayName,
              kind: "left",
            });
            return;
          }
          case "post": {
            if (sender === undefined || !joined.has(action.value.room)) {
              throw failedPrecondition(`join room ${action.value.room} before posting to it`);
            }
            await post(action.value.room, sender, action.value.text);
            return;
          }
          default:
            throw new RpcError(Code.INVALID_ARGUMENT, "each request must be a join, a leave or a post");
        }
      };

      // Requests are read concurrently with writing events; a bad request or a
      // failed lookup ends the stream with its status, after the events already queued.
      void (async () => {
        try {
          for await (const request of requests) await handle(request);
          queue.end();
        } catch (error) {
          queue.fail(error);
        }
      })();

      try {
        for await (const event of queue.drain(context.signal)) yield { event: toChatEvent(event) };
      } finally {
        for (const unsubscribe of joined.values()) unsubscribe();
        if (sender !== undefined) {
          const left = sender;
          await Promise.allSettled(
            [...joined.keys()].map((room) =>
              repository.announcePresence({ room, userId: left.id, displayName: left.displayName, kind: "left" }),
            ),
          );
        }
        joined.clear();
      }
    },
  };
}

function failedPrecondition(message: string): RpcError {
  return new RpcError(Code.FAILED_PRECONDITION, message);
}

/** The API view of a stored message. */
export function toChatMessage(message: StoredMessage): ChatMessage {
  return create(ChatMessageSchema, {
    id: message.id,
    room: message.room,
    senderId: message.senderId,
    senderName: message.senderName,
    text: message.text,
    sendTime: timestampFromDate(message.sendTime),
  });
}

function toChatEvent(event: RoomEvent): ChatEvent {
  const init: MessageInitShape<typeof ChatEventSchema> =
    event.type === "message"
      ? { kind: { case: "message", value: toChatMessage(event.message) } }
      : {
          kind: {
            case: "presence",
            value: {
              room: event.presence.room,
              userId: event.presence.userId,
              displayName: event.presence.displayName,
              kind: event.presence.kind === "joined" ? PresenceEvent_Kind.JOINED : PresenceEvent_Kind.LEFT,
            },
          },
        };
  return create(ChatEventSchema, init);
}

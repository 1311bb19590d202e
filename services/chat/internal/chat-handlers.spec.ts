import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code } from "@trellis/kit";
import { createTestCallContext, rpcFailure } from "@trellis/kit/testing";
import { ChatRequestSchema, ChatService, HistoryRequestSchema, SubscribeRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { createMemoryChatRepository } from "../repository/memory-chat-repository.js";
import { createChatHandlers } from "./chat-handlers.js";
import type { ChatRepository } from "./chat-repository.js";
import { createRoomHub } from "./room-hub.js";
import type { UserDirectory } from "./user-directory.js";

const SENDER = { id: "7d4f0c52-8c1e-4b5e-9a39-5d3c1f0e2a61", displayName: "Sam" };
const directory: UserDirectory = { resolve: async () => SENDER };

/** The handlers as main.ts builds them: no limits overridden. */
function defaultHandlers(repository: ChatRepository) {
  return createChatHandlers({ repository, hub: createRoomHub(repository), users: directory });
}

async function post(repository: ChatRepository, room: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await repository.append({ id: crypto.randomUUID(), room, senderId: SENDER.id, senderName: SENDER.displayName, text: `${i}` });
  }
}

describe("chat handlers: their defaults", () => {
  it("lets 1,000 events wait for a subscriber that does not read, and ends it with RESOURCE_EXHAUSTED at the 1,001st", async () => {
    const repository = createMemoryChatRepository();
    const handlers = defaultHandlers(repository);
    const context = createTestCallContext({ method: ChatService.method.subscribe });
    const events = handlers.subscribe(create(SubscribeRequestSchema, { room: "r" }), context)[Symbol.asyncIterator]();
    try {
      const first = events.next(); // subscribes, then waits for an event
      await post(repository, "r", 1);
      assert.equal((await first).done, false);
      await post(repository, "r", 1000); // none read meanwhile
      for (let i = 0; i < 1000; i += 1) {
        const next = await events.next();
        assert.ok(next.done === false && next.value.event?.kind?.case === "message", `event ${i} of 1,000 delivered`);
      }
      await post(repository, "r", 1001);
      const error = await rpcFailure(events.next());
      assert.equal(error.code, Code.RESOURCE_EXHAUSTED);
      assert.match(error.message, /more than 1000 events are waiting/);
    } finally {
      context.abort();
      await events.return?.();
    }
  });

  it("lets one Chat stream join 20 rooms and ends it with RESOURCE_EXHAUSTED at the 21st", async () => {
    const repository = createMemoryChatRepository();
    const handlers = defaultHandlers(repository);
    const context = createTestCallContext({ method: ChatService.method.chat });
    const joins = (async function* () {
      for (let room = 0; room < 21; room += 1)
        yield create(ChatRequestSchema, { action: { case: "join", value: { room: `room-${room}`, userId: SENDER.id } } });
      await new Promise(() => undefined); // the client keeps its side open
    })();
    const joined: string[] = [];
    const error = await rpcFailure(
      (async () => {
        for await (const response of handlers.chat(joins, context)) {
          if (response.event?.kind?.case === "presence") joined.push(response.event.kind.value.room ?? "");
        }
      })(),
    );
    context.abort();
    assert.equal(error.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(error.message, "a stream may be in at most 20 rooms");
    assert.deepEqual(
      joined,
      Array.from({ length: 20 }, (_, room) => `room-${room}`),
    );
  });

  it("pages History by 50 when the request says 0, and by at most 500", async () => {
    const repository = createMemoryChatRepository();
    const handlers = defaultHandlers(repository);
    await post(repository, "h", 501);
    const context = createTestCallContext({ method: ChatService.method.history });
    const byDefault = await handlers.history(create(HistoryRequestSchema, { room: "h" }), context);
    assert.equal(byDefault.messages?.length, 50);
    const capped = await handlers.history(create(HistoryRequestSchema, { room: "h", pageSize: 5000 }), context);
    assert.equal(capped.messages?.length, 500);
    const rest = await handlers.history(
      create(HistoryRequestSchema, { room: "h", pageSize: 5000, pageToken: capped.nextPageToken }),
      context,
    );
    assert.equal(rest.messages?.length, 1);
    assert.equal(rest.nextPageToken, "");
  });
});

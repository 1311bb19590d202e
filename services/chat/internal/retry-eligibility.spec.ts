import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, RpcError, closeClient, createClient, type Client, type ServiceImpl } from "@trellis/kit";
import { rpcFailure, startTestServer, type TestServer } from "@trellis/kit/testing";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";

/** A ChatService whose unary methods fail their first call with UNAVAILABLE and answer the second. */
function flakyChatService(): { impl: ServiceImpl<typeof ChatService>; attempts: Map<string, number> } {
  const attempts = new Map<string, number>();
  const attempt = (method: string): void => {
    const n = (attempts.get(method) ?? 0) + 1;
    attempts.set(method, n);
    if (n === 1) throw new RpcError(Code.UNAVAILABLE, "instance went away");
  };
  return {
    attempts,
    impl: {
      history: async () => (attempt("history"), { messages: [{ text: "kept" }] }),
      send: async () => (attempt("send"), { message: { text: "sent" } }),
      // eslint-disable-next-line require-yield
      async *subscribe() {
        attempt("subscribe");
      },
      // eslint-disable-next-line require-yield
      async *chat() {
        attempt("chat");
      },
    },
  };
}

// chat.proto marks History NO_SIDE_EFFECTS: the client every service uses retries it after a
// transient failure; Send would post the message twice, so it is never retried.
describe("ChatService retry eligibility (chat.proto's idempotency levels, the client's defaults)", () => {
  let fake: ReturnType<typeof flakyChatService>;
  let t: TestServer;
  let chat: Client<typeof ChatService>;

  before(async () => {
    fake = flakyChatService();
    t = await startTestServer((s) => s.addService(ChatService, fake.impl));
    chat = createClient(ChatService, t.address);
  });
  after(async () => {
    closeClient(chat);
    await t.close();
  });

  it("retries History after UNAVAILABLE", async () => {
    assert.deepEqual(
      (await chat.history({ room: "r" })).messages.map((m) => m.text),
      ["kept"],
    );
    assert.equal(fake.attempts.get("history"), 2);
  });

  it("never sends Send twice", async () => {
    assert.equal((await rpcFailure(chat.send({ room: "r", senderId: randomUUID(), text: "once" }))).code, Code.UNAVAILABLE);
    assert.equal(fake.attempts.get("send"), 1);
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, RpcError, createClient, type Client, closeClient } from "@trellis/kit";
import { startTestServer, type TestServer } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { openChatRepository } from "../repository/open-chat-repository.js";
import { createFakeUserService, type FakeUserService } from "../test/fake-user-service.js";
import type { ChatRepository } from "./chat-repository.js";
import { createChatHandlers } from "./chat-handlers.js";
import { createRoomHub, type RoomHub } from "./room-hub.js";
import { createUserDirectory } from "./user-directory.js";

describe("chat → user: deadlines and cancellation propagate", () => {
  let fake: FakeUserService;
  let userServer: TestServer;
  let chatServer: TestServer;
  let repository: ChatRepository;
  let hub: RoomHub;
  let users: Client<typeof UserService>;
  let chat: Client<typeof ChatService>;

  before(async () => {
    fake = createFakeUserService();
    userServer = await startTestServer((s) => s.addService(UserService, fake.impl));
    repository = await openChatRepository({ pgliteDataDir: "memory://" });
    hub = createRoomHub(repository);
    // The production client chain: deadline inheritance, breaker, retries.
    users = createClient(UserService, userServer.address);
    chatServer = await startTestServer((s) =>
      s.addService(ChatService, createChatHandlers({ repository, hub, users: createUserDirectory(users, { timeoutMs: 5_000 }) })),
    );
    chat = chatServer.client(ChatService);
  });
  after(async () => {
    await chatServer.close();
    closeClient(users);
    hub.close();
    await repository.close();
    await userServer.close();
  });

  it("gives the user call no more than what is left of the chat call's 100 ms deadline", async () => {
    const id = randomUUID();
    fake.users.set(id, "Dee");
    const before = fake.calls.length;
    await chat.send({ room: "budget", senderId: id, text: "quick" }, { timeoutMs: 100 });
    const call = fake.calls[before];
    assert.ok(call !== undefined, "the user service was called");
    assert.ok(call.budgetMs <= 100 && call.budgetMs > 0, `user call budget was ${call.budgetMs} ms`);
  });

  it("ends the user call when the chat call's deadline passes, and reports DEADLINE_EXCEEDED", async () => {
    const id = randomUUID();
    fake.users.set(id, "Slow");
    fake.delayMs = 10_000;
    try {
      const before = fake.calls.length;
      const error = await chat.send({ room: "budget", senderId: id, text: "slow" }, { timeoutMs: 150 }).catch((e: unknown) => e);
      assert.ok(error instanceof RpcError && error.code === Code.DEADLINE_EXCEEDED);
      const reason = await fake.calls[before]!.aborted;
      assert.ok(reason instanceof RpcError && (reason.code === Code.DEADLINE_EXCEEDED || reason.code === Code.CANCELLED));
    } finally {
      fake.delayMs = 0;
    }
  });

  it("cancels the in-flight user call when the chat stream is cancelled", async () => {
    const id = randomUUID();
    fake.users.set(id, "Gone");
    fake.delayMs = 10_000;
    try {
      const before = fake.calls.length;
      const controller = new AbortController();
      const requests = (async function* () {
        yield { action: { case: "join" as const, value: { room: "lobby", userId: id } } };
        await new Promise(() => undefined); // keep the request side open
      })();
      const stream = chat.chat(requests, { signal: controller.signal })[Symbol.asyncIterator]();
      const pending = stream.next().catch((e: unknown) => e);
      while (fake.calls.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      controller.abort();
      await pending;
      const reason = await fake.calls[before]!.aborted;
      assert.ok(reason instanceof RpcError && reason.code === Code.CANCELLED, `user call ended with ${String(reason)}`);
    } finally {
      fake.delayMs = 0;
    }
  });
});

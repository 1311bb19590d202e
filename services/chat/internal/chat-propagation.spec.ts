import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, RpcError, createClient, type Client, closeClient } from "@trellis/kit";
import { startTestServer, waitFor, type TestServer } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { openChatRepository } from "../repository/open-chat-repository.js";
import { createFakeUserService, type FakeUserService, type GetUserObservation } from "../test/fake-user-service.js";
import type { ChatRepository } from "./chat-repository.js";
import { createChatHandlers } from "./chat-handlers.js";
import { createRoomHub, type RoomHub } from "./room-hub.js";
import { createUserDirectory } from "./user-directory.js";

/** The user directory's own timeout per lookup here; a chat call's shorter deadline must win. */
const LOOKUP_TIMEOUT_MS = 20_000;
/** The chat calls' deadline: far shorter than a lookup's own timeout, long enough for a busy machine. */
const CHAT_DEADLINE_MS = 3_000;

/** Waits (bounded) for the fake's call to be aborted; resolves with the reason. */
async function abortReason(call: GetUserObservation): Promise<unknown> {
  let reason: unknown;
  let aborted = false;
  void call.aborted.then((r) => {
    reason = r;
    aborted = true;
  });
  await waitFor(() => aborted, "the user call was cancelled");
  return reason;
}

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
      s.addService(
        ChatService,
        createChatHandlers({ repository, hub, users: createUserDirectory(users, { timeoutMs: LOOKUP_TIMEOUT_MS }) }),
      ),
    );
    chat = chatServer.client(ChatService);
    // Open both connections (test → chat, chat → user) first: a deadline must not be spent on
    // connecting, or the tests would race it on a busy machine.
    const warm = randomUUID();
    fake.users.set(warm, "Warm");
    await chat.send({ room: "warm", senderId: warm, text: "connect" });
  });
  after(async () => {
    await chatServer.close();
    closeClient(users);
    hub.close();
    await repository.close();
    await userServer.close();
  });

  it("gives the user call no more than what is left of the chat call's deadline, not the lookup's own timeout", async () => {
    const id = randomUUID();
    fake.users.set(id, "Dee");
    const before = fake.calls.length;
    await chat.send({ room: "budget", senderId: id, text: "quick" }, { timeoutMs: CHAT_DEADLINE_MS });
    const call = fake.calls[before];
    assert.ok(call !== undefined, "the user service was called");
    assert.ok(call.budgetMs > 0 && call.budgetMs <= CHAT_DEADLINE_MS, `user call budget was ${call.budgetMs} ms`);
  });

  it("ends the user call when the chat call's deadline passes, and reports DEADLINE_EXCEEDED", async () => {
    const id = randomUUID();
    fake.users.set(id, "Slow");
    fake.delayMs = 10_000;
    try {
      const before = fake.calls.length;
      const error = await chat
        .send({ room: "budget", senderId: id, text: "slow" }, { timeoutMs: CHAT_DEADLINE_MS })
        .catch((e: unknown) => e);
      assert.ok(error instanceof RpcError && error.code === Code.DEADLINE_EXCEEDED, `chat call ended with ${String(error)}`);
      const call = fake.calls[before];
      assert.ok(call !== undefined, "the user service was called before the deadline passed");
      assert.ok(call.budgetMs <= CHAT_DEADLINE_MS, `user call budget was ${call.budgetMs} ms`);
      const reason = await abortReason(call);
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
      await waitFor(() => fake.calls.length > before, "the user service was called");
      controller.abort();
      await pending;
      const reason = await abortReason(fake.calls[before]!);
      assert.ok(reason instanceof RpcError && reason.code === Code.CANCELLED, `user call ended with ${String(reason)}`);
    } finally {
      fake.delayMs = 0;
    }
  });
});

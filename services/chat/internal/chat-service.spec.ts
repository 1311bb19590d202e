import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { Code, createClient, type Client, closeClient } from "@trellis/kit";
import { startTestServer, type TestServer, rpcFailure, waitFor } from "@trellis/kit/testing";
import { PreconditionFailureSchema, RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createFakeUserService } from "../test/fake-user-service.js";
import { ChatService, PresenceEvent_Kind, type ChatResponse } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { openChatRepository } from "../repository/open-chat-repository.js";
import { createChatHandlers } from "./chat-handlers.js";
import { createRoomHub } from "./room-hub.js";
import { createUserDirectory } from "./user-directory.js";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { SubscribeRequestSchema, type ChatRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";

/** A request stream the test pushes into. */
function outbox(): {
  push(r: MessageInitShape<typeof ChatRequestSchema>): void;
  end(): void;
  stream: AsyncIterable<MessageInitShape<typeof ChatRequestSchema>>;
} {
  const items: MessageInitShape<typeof ChatRequestSchema>[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  return {
    push(r) {
      items.push(r);
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    stream: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = items.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          if (done) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    },
  };
}

/** Reads a room's messages in the background, until `signal` aborts. */
function readRoom(chat: Client<typeof ChatService>, room: string, signal: AbortSignal): { readonly texts: string[] } {
  const texts: string[] = [];
  void (async () => {
    for await (const { event } of chat.subscribe({ room }, { signal }))
      if (event?.kind.case === "message") texts.push(event.kind.value.text);
  })().catch(() => undefined); // ended by the abort
  return { texts };
}

/**
 * Sends probe messages to `room` until `seen()` says a subscriber got one: a subscription is
 * not in place the moment its call is made, and from this point on it misses nothing.
 */
async function untilSubscribed(chat: Client<typeof ChatService>, room: string, senderId: string, seen: () => boolean): Promise<void> {
  await waitFor(
    async () => {
      await chat.send({ room, senderId, text: "probe" });
      return seen();
    },
    `a subscriber of ${room} receives messages`,
    { intervalMs: 100 },
  );
}

async function nextEvent(iterator: AsyncIterator<ChatResponse>): Promise<ChatResponse> {
  const next = await iterator.next();
  assert.ok(!next.done, "stream ended early");
  return next.value;
}

describe("ChatService over gRPC (embedded database, a stand-in user service)", () => {
  let userServer: TestServer;
  let chatServer: TestServer;
  let chat: Client<typeof ChatService>;
  let closeAll: () => Promise<void>;
  let alice: string;
  let bob: string;

  before(async () => {
    const fakeUsers = createFakeUserService();
    alice = randomUUID();
    bob = randomUUID();
    fakeUsers.users.set(alice, "Alice");
    fakeUsers.users.set(bob, "Bob");
    userServer = await startTestServer((s) => s.addService(UserService, fakeUsers.impl));

    const chatRepository = await openChatRepository({ pgliteDataDir: "memory://" });
    const hub = createRoomHub(chatRepository);
    const userClient = createClient(UserService, userServer.address);
    const directory = createUserDirectory(userClient, { ttlMs: 60_000 });
    chatServer = await startTestServer((s) =>
      s.addService(ChatService, createChatHandlers({ repository: chatRepository, hub, users: directory, maxQueuedEvents: 50 })),
    );
    chat = chatServer.client(ChatService);
    closeAll = async () => {
      await chatServer.close();
      hub.close();
      closeClient(userClient);
      await chatRepository.close();
      await userServer.close().catch(() => undefined);
    };
  });
  after(() => closeAll());

  it("sends a message as an existing user and lists it in the room's history, newest first", async () => {
    const first = await chat.send({ room: "general", senderId: alice, text: "hello" });
    assert.equal(first.message?.senderName, "Alice");
    await chat.send({ room: "general", senderId: bob, text: "hi alice" });
    const page = await chat.history({ room: "general", pageSize: 1 });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      ["hi alice"],
    );
    const next = await chat.history({ room: "general", pageSize: 1, pageToken: page.nextPageToken });
    assert.deepEqual(
      next.messages.map((m) => m.text),
      ["hello"],
    );
    const elsewhere = await rpcFailure(chat.history({ room: "random", pageSize: 1, pageToken: page.nextPageToken }));
    assert.equal(elsewhere.code, Code.INVALID_ARGUMENT);
    assert.equal(elsewhere.message, "page_token belongs to another room");
  });

  it("answers an unknown sender with FAILED_PRECONDITION and stores nothing", async () => {
    const error = await rpcFailure(chat.send({ room: "general", senderId: randomUUID(), text: "who am i" }));
    assert.equal(error.code, Code.FAILED_PRECONDITION);
    assert.equal(error.findDetail(PreconditionFailureSchema)?.violations[0]?.type, "USER");
    const history = await chat.history({ room: "general" });
    assert.ok(!history.messages.some((m) => m.text === "who am i"));
  });

  it("answers bad input with INVALID_ARGUMENT", async () => {
    assert.equal((await rpcFailure(chat.send({ room: "Bad Room!", senderId: alice, text: "x" }))).code, Code.INVALID_ARGUMENT);
    assert.equal((await rpcFailure(chat.send({ room: "general", senderId: alice, text: "x".repeat(2001) }))).code, Code.INVALID_ARGUMENT);
    assert.equal((await rpcFailure(chat.history({ room: "general", pageToken: "garbage" }))).code, Code.INVALID_ARGUMENT);
    assert.equal((await rpcFailure(chat.history({ room: "general", pageSize: -5 }))).code, Code.INVALID_ARGUMENT);
    const subscribe = await rpcFailure(
      (async () => {
        for await (const _ of chat.subscribe({ room: "Bad Room!" })) void _;
      })(),
    );
    assert.equal(subscribe.code, Code.INVALID_ARGUMENT);
  });

  it("delivers room messages to read-only subscribers", async () => {
    const controller = new AbortController();
    try {
      const news = readRoom(chat, "news", controller.signal);
      await untilSubscribed(chat, "news", alice, () => news.texts.length > 0);
      const probes = news.texts.length;
      await chat.send({ room: "news", senderId: alice, text: "extra!" });
      await chat.send({ room: "other", senderId: alice, text: "not for news" });
      await chat.send({ room: "news", senderId: bob, text: "read all about it" });
      await waitFor(() => news.texts.length >= probes + 2, "both news messages arrived");
      assert.deepEqual(
        news.texts.slice(probes).filter((t) => t !== "probe"),
        ["extra!", "read all about it"],
      );
    } finally {
      controller.abort();
    }
  });

  it("runs a live session: join, presence, posts in order, leave", async () => {
    const aliceOut = outbox();
    const bobOut = outbox();
    const aliceIn = chat.chat(aliceOut.stream)[Symbol.asyncIterator]();
    aliceOut.push({ action: { case: "join", value: { room: "lobby", userId: alice } } });
    assert.equal((await nextEvent(aliceIn)).event?.kind.case, "presence");
    const bobIn = chat.chat(bobOut.stream)[Symbol.asyncIterator]();
    bobOut.push({ action: { case: "join", value: { room: "lobby", userId: bob } } });
    const seenByAlice = await nextEvent(aliceIn);
    assert.equal(seenByAlice.event?.kind.case, "presence");
    if (seenByAlice.event?.kind.case === "presence") {
      assert.equal(seenByAlice.event.kind.value.displayName, "Bob");
      assert.equal(seenByAlice.event.kind.value.kind, PresenceEvent_Kind.JOINED);
    }
    await nextEvent(bobIn); // bob's own join
    for (const text of ["one", "two", "three"]) aliceOut.push({ action: { case: "post", value: { room: "lobby", text } } });
    for (const inbox of [aliceIn, bobIn]) {
      const texts: string[] = [];
      while (texts.length < 3) {
        const event = await nextEvent(inbox);
        if (event.event?.kind.case === "message") texts.push(event.event.kind.value.text);
      }
      assert.deepEqual(texts, ["one", "two", "three"]);
    }
    bobOut.push({ action: { case: "leave", value: { room: "lobby" } } });
    const left = await nextEvent(aliceIn);
    assert.ok(left.event?.kind.case === "presence" && left.event.kind.value.kind === PresenceEvent_Kind.LEFT);
    aliceOut.end();
    bobOut.end();
    assert.equal((await aliceIn.next()).done, true);
  });

  it("ends a session that posts before joining with FAILED_PRECONDITION", async () => {
    const out = outbox();
    const inbox = chat.chat(out.stream)[Symbol.asyncIterator]();
    out.push({ action: { case: "post", value: { room: "lobby", text: "too early" } } });
    const error = await rpcFailure(inbox.next());
    assert.equal(error.code, Code.FAILED_PRECONDITION);
    out.end();
  });

  it("ends a session whose first join names no user, or an unknown one", async () => {
    for (const userId of ["", randomUUID()]) {
      const out = outbox();
      const inbox = chat.chat(out.stream)[Symbol.asyncIterator]();
      out.push({ action: { case: "join", value: { room: "lobby", userId } } });
      assert.equal((await rpcFailure(inbox.next())).code, Code.FAILED_PRECONDITION);
      out.end();
    }
  });

  it("ends a session that sends an invalid request with INVALID_ARGUMENT", async () => {
    const out = outbox();
    const inbox = chat.chat(out.stream)[Symbol.asyncIterator]();
    out.push({ action: { case: "join", value: { room: "NOT valid", userId: alice } } });
    assert.equal((await rpcFailure(inbox.next())).code, Code.INVALID_ARGUMENT);
    out.end();
  });

  it("keeps delivering to readers and accepting sends while a subscriber stops reading, and cuts that one off with RESOURCE_EXHAUSTED", async () => {
    const raw = new grpc.Client(chatServer.address, grpc.credentials.createInsecure());
    const requestId = `stalled-${randomUUID()}`;
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", requestId);
    const stalled = raw.makeServerStreamRequest(
      "/trellis.chat.v1.ChatService/Subscribe",
      () => Buffer.from(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { room: "flood" }))),
      (b: Buffer) => b,
      {},
      metadata,
    );
    let stalledGot = 0;
    const countStalled = (): void => void (stalledGot += 1);
    stalled.on("data", countStalled);
    let stalledEnd: { readonly error: unknown } | undefined;
    stalled.on("error", (error) => (stalledEnd = { error }));
    stalled.on("end", () => (stalledEnd ??= { error: undefined }));
    const controller = new AbortController();
    try {
      const reader = readRoom(chat, "flood", controller.signal);
      await untilSubscribed(chat, "flood", alice, () => reader.texts.length > 0 && stalledGot > 0);
      stalled.off("data", countStalled);
      stalled.pause(); // from here on it reads nothing
      const probes = reader.texts.length;
      const total = 200; // 2,000-character messages: far more than HTTP/2 buffers plus the 50 the server queues
      for (let i = 0; i < total; i += 1) await chat.send({ room: "flood", senderId: alice, text: "z".repeat(2000) });
      await waitFor(() => reader.texts.length >= probes + total, "the reading subscriber got every message");
      assert.equal(reader.texts.length, probes + total);
      // Reading again, the stalled client gets what was already on its way, then the end: more
      // than 50 events (this server's bound) were left waiting for it meanwhile.
      let afterwards = 0;
      stalled.on("data", () => void (afterwards += 1));
      stalled.resume();
      await waitFor(() => stalledEnd !== undefined, "the stalled subscription ended");
      const ended = stalledEnd?.error;
      assert.ok(
        ended instanceof Error && "code" in ended && ended.code === Code.RESOURCE_EXHAUSTED,
        `the stalled client saw ${String(ended)}`,
      );
      assert.match(ended.message, /more than 50 events are waiting/);
      assert.ok(afterwards < total, `it got ${afterwards} of the ${total} messages, not all`);
      await waitFor(
        () => chatServer.logs.some((l) => l["http.request.id"] === requestId && l["grpc.code"] === "RESOURCE_EXHAUSTED"),
        "the server logged the stalled subscription's RESOURCE_EXHAUSTED",
      );
    } finally {
      controller.abort();
      stalled.cancel();
      raw.close();
    }
  });

  it("degrades clearly when the user service is down: UNAVAILABLE with RetryInfo, cached senders still work", async () => {
    await chat.send({ room: "general", senderId: alice, text: "warm the cache" });
    await userServer.server.shutdown();
    const cached = await chat.send({ room: "general", senderId: alice, text: "still here" });
    assert.equal(cached.message?.senderName, "Alice");
    const unknown = await rpcFailure(chat.send({ room: "general", senderId: randomUUID(), text: "x" }, { timeoutMs: 5_000 }));
    assert.equal(unknown.code, Code.UNAVAILABLE);
    assert.ok(unknown.findDetail(RetryInfoSchema), "RetryInfo tells the client when to retry");
  });
});

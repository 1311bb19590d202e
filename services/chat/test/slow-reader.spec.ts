import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants as http2 } from "node:http2";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, type Client, closeClient } from "@trellis/kit";
import { grpcFrame, rawGrpcCall, startServiceProcess, waitFor, type ServiceProcess } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService, SubscribeRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";

const CHAT_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
/** The user service this chat calls, built beside it in the monorepo. */
const USER_MAIN = fileURLToPath(new URL("../../../user/dist/main.js", import.meta.url));

// A chat client that never reads its stream used to be left open for ever (the README promised
// RESOURCE_EXHAUSTED); now the server ends it once it has not read for GRPC_MAX_WRITE_STALL_MS.
describe("chat process: a subscriber that never reads", () => {
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let chats: Client<typeof ChatService>;
  let senderId: string;

  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    chat = await startServiceProcess(CHAT_MAIN, {
      env: { TRELLIS_STATIC_SERVICES: `user=${user.address}`, GRPC_MAX_WRITE_STALL_MS: "1000" },
    });
    chats = createClient(ChatService, chat.address);
    const users = createClient(UserService, user.address);
    senderId = (await users.createUser({ email: "loud@example.com", displayName: "Loud" })).user!.id;
    closeClient(users);
  });
  after(async () => {
    closeClient(chats);
    await chat?.stop();
    await user?.stop();
  });

  it("is ended with RESOURCE_EXHAUSTED (RST_STREAM ENHANCE_YOUR_CALM) while a reading subscriber gets every message", async () => {
    const room = "flood";
    const stalled = rawGrpcCall(chat.address, "/trellis.chat.v1.ChatService/Subscribe", {
      body: [grpcFrame(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { room })))],
      read: false,
    });
    const reader = new AbortController();
    const received: string[] = [];
    const reading = (async () => {
      try {
        for await (const response of chats.subscribe({ room }, { signal: reader.signal })) {
          if (response.event?.kind.case === "message") received.push(response.event.kind.value.text);
        }
      } catch {
        // Ended by the abort below.
      }
    })();
    // Until the reader sees one, it may not have joined yet.
    let sent = 0;
    while (received.length === 0) {
      await chats.send({ room, senderId, text: `${sent} hello` });
      sent += 1;
    }
    // ~2 KB messages until the server gives up on the subscriber that does not read (a few
    // dozen overflow its HTTP/2 window; the bound only keeps a broken server from looping).
    let stalledEnded = false;
    void stalled.then(() => (stalledEnded = true));
    const text = "x".repeat(1990);
    for (; !stalledEnded && sent < 5000; sent++) await chats.send({ room, senderId, text: `${sent} ${text}` });
    const outcome = await stalled;
    assert.equal(outcome.rstCode, http2.NGHTTP2_ENHANCE_YOUR_CALM);
    await waitFor(() => received.length === sent, `the reading subscriber got all ${sent} messages (has ${received.length})`);
    reader.abort();
    await reading;
    await waitFor(
      () => chat.logs.some((l) => l["rpc.method"] === "trellis.chat.v1.ChatService/Subscribe" && l["grpc.code"] === "RESOURCE_EXHAUSTED"),
      "the chat log says RESOURCE_EXHAUSTED",
    );
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type ClientHttp2Session } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { closeClient, createClient, type Client } from "@trellis/kit";
import { grpcFrame, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { ChatService, SubscribeRequestSchema, SubscribeResponseSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { CHAT_MAIN, USER_MAIN } from "./service-mains.js";

/**
 * A quiet room still tells its subscriber it is subscribed: Subscribe sends its response
 * headers once the subscription is in place, before any event. A client that then reads
 * History misses nothing; a browser learns a stream is set up only from its headers.
 */
describe("Subscribe response headers", () => {
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let users: Client<typeof UserService>;
  let chatClient: Client<typeof ChatService>;
  let session: ClientHttp2Session;
  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    chat = await startServiceProcess(CHAT_MAIN, { env: { TRELLIS_STATIC_SERVICES: `user=${user.address}` } });
    users = createClient(UserService, user.address);
    chatClient = createClient(ChatService, chat.address);
    session = connect(`http://${chat.address}`);
  });
  after(async () => {
    session?.close();
    if (users !== undefined) closeClient(users);
    if (chatClient !== undefined) closeClient(chatClient);
    await chat?.stop();
    await user?.stop();
  });

  // Bounded: without early headers the wait for them would last until the runner gives up.
  it("arrive before any event, and a message sent after them is delivered", { timeout: 60_000 }, async () => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/trellis.chat.v1.ChatService/Subscribe",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.end(grpcFrame(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { room: "quiet" }))));
    let buffered = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => (buffered = Buffer.concat([buffered, chunk])));
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("close", () => reject(new Error("the stream closed before its headers")));
    });
    assert.equal(headers[":status"], 200);
    assert.equal(buffered.length, 0, "the room is quiet: the headers came on their own");

    const { user: sender } = await users.createUser({ email: `quiet-${Date.now()}@example.com`, displayName: "Quiet" });
    const { message: sent } = await chatClient.send({ room: "quiet", senderId: sender!.id, text: "anyone?" });
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const check = (): void => {
        if (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1))
          resolve(buffered.subarray(5, 5 + buffered.readUInt32BE(1)));
      };
      stream.on("data", check);
      stream.once("close", () => reject(new Error("the stream ended before the message")));
      check();
    });
    const event = fromBinary(SubscribeResponseSchema, frame).event?.kind;
    assert.equal(event?.case, "message");
    assert.equal(event.value.id, sent?.id);
    stream.close();
  });
});

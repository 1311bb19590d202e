import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Code, createClient, type Client, closeClient } from "@trellis/kit";
import { rpcFailure, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { BadRequestSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";

const CHAT_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
/** The user service this chat calls, built beside it in the monorepo. */
const USER_MAIN = fileURLToPath(new URL("../../../user/dist/main.js", import.meta.url));

/** A History page token as chat encodes them (base64url JSON, format 1), with any fields. */
const forgedHistoryToken = (fields: Record<string, unknown>): string =>
  Buffer.from(JSON.stringify({ v: 1, r: "general", s: "1", ...fields })).toString("base64url");

describe("chat process: hostile input is refused as the client's fault, never INTERNAL", () => {
  let user: ServiceProcess;
  let chat: ServiceProcess;
  let chats: Client<typeof ChatService>;
  let senderId: string;

  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    chat = await startServiceProcess(CHAT_MAIN, { env: { TRELLIS_STATIC_SERVICES: `user=${user.address}` } });
    chats = createClient(ChatService, chat.address);
    const users = createClient(UserService, user.address);
    senderId = (await users.createUser({ email: "sender@example.com", displayName: "Sender" })).user!.id;
    closeClient(users);
    await chats.send({ room: "general", senderId, text: "first" });
    await chats.send({ room: "general", senderId, text: "second" });
  });
  after(async () => {
    closeClient(chats);
    await chat?.stop();
    await user?.stop();
  });

  describe("forged History page tokens", () => {
    for (const [name, fields] of [
      ["a sequence beyond 64 bits", { s: "9223372036854775808" }],
      ["the largest 19-digit number", { s: "9999999999999999999" }],
      ["a numeric sequence of 1e300", { s: 1e300 }],
      ["a negative sequence", { s: "-5" }],
    ] as const) {
      it(`answers ${name} with INVALID_ARGUMENT naming page_token`, async () => {
        const error = await rpcFailure(chats.history({ room: "general", pageToken: forgedHistoryToken(fields) }));
        assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
        assert.equal(error.findDetail(BadRequestSchema)?.fieldViolations[0]?.field, "page_token");
      });
    }

    it("still pages with the tokens it issues, up to the largest sequence", async () => {
      const first = await chats.history({ room: "general", pageSize: 1 });
      assert.deepEqual(
        first.messages.map((m) => m.text),
        ["second"],
      );
      const second = await chats.history({ room: "general", pageSize: 1, pageToken: first.nextPageToken });
      assert.deepEqual(
        second.messages.map((m) => m.text),
        ["first"],
      );
      const top = await chats.history({ room: "general", pageToken: forgedHistoryToken({ s: "9223372036854775807" }) });
      assert.deepEqual(
        top.messages.map((m) => m.text),
        ["second", "first"],
      );
    });
  });

  describe("NUL characters in text (PostgreSQL text cannot hold them)", () => {
    const texts = async (): Promise<string[]> => (await chats.history({ room: "general", pageSize: 500 })).messages.map((m) => m.text);

    it("Send: answers a NUL in the text with INVALID_ARGUMENT naming text, and stores nothing", async () => {
      const before = await texts();
      const error = await rpcFailure(chats.send({ room: "general", senderId, text: "nul\u0000text" }));
      assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
      assert.deepEqual(
        error.findDetail(BadRequestSchema)?.fieldViolations.map((v) => v.field),
        ["text"],
      );
      assert.deepEqual(await texts(), before);
    });

    it("Chat: a post with a NUL ends the stream with INVALID_ARGUMENT naming post.text, and stores nothing", async () => {
      const before = await texts();
      const error = await rpcFailure(
        (async () => {
          const requests = (async function* () {
            yield { action: { case: "join" as const, value: { room: "general", userId: senderId } } };
            yield { action: { case: "post" as const, value: { room: "general", text: "nul\u0000post" } } };
          })();
          for await (const _ of chats.chat(requests, { timeoutMs: 20_000 })) void _;
        })(),
      );
      assert.equal(error.code, Code.INVALID_ARGUMENT, error.message);
      assert.deepEqual(
        error.findDetail(BadRequestSchema)?.fieldViolations.map((v) => v.field),
        ["post.text"],
      );
      assert.deepEqual(await texts(), before);
      assert.ok((await chats.send({ room: "general", senderId, text: "still serving" })).message, "still serving");
    });
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMemoryChatRepository } from "./memory-chat-repository.js";

describe("memory chat repository", () => {
  const post = (n: number) => ({ id: `m${n}`, room: "general", senderId: "u", senderName: "U", text: `message ${n}` });

  it("keeps only the newest maxMessagesPerRoom messages of a room, newest first", async () => {
    const repository = createMemoryChatRepository({ maxMessagesPerRoom: 3 });
    for (let n = 1; n <= 8; n += 1) await repository.append(post(n));
    const history = await repository.history("general", { limit: 10, before: undefined });
    assert.deepEqual(
      history.map((m) => m.text),
      ["message 8", "message 7", "message 6"],
    );
  });

  it("pages back from a sequence within what it keeps", async () => {
    const repository = createMemoryChatRepository({ maxMessagesPerRoom: 5 });
    const stored = [];
    for (let n = 1; n <= 5; n += 1) stored.push(await repository.append(post(n)));
    const page = await repository.history("general", { limit: 2, before: stored[3]?.sequence });
    assert.deepEqual(
      page.map((m) => m.text),
      ["message 3", "message 2"],
    );
  });
});

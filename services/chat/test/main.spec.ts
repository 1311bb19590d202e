import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createClient, closeClient, type Client } from "@trellis/kit";
import { runServiceToExit, startServiceProcess, type ServiceExit, type ServiceProcess } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { CHAT_MAIN, USER_MAIN } from "./service-mains.js";

describe("chat process: configuration refused at start", () => {
  const cases = [
    ["PGLITE_SLICE_MS", "-1", /^chat: PGLITE_SLICE_MS must be an integer from 0 to 1000 \(got "-1"\)\n$/],
    ["DATABASE_URL", "mysql://db/chat", /^chat: DATABASE_URL must use the scheme postgres or postgresql \(got "mysql"\)\n$/],
    ["USER_SERVICE_TARGET", "not a target", /^chat: USER_SERVICE_TARGET must be a gRPC target .* \(got "not a target"\)\n$/],
    ["GRPC_MAX_WRITE_STALL_MS", "soon", /^chat: GRPC_MAX_WRITE_STALL_MS must be an integer from 0 to 3600000 \(got "soon"\)\n$/],
  ] as const;
  // Side by side: each process only loads its modules and checks its environment.
  let exits: Map<string, ServiceExit>;
  before(async () => {
    const runs = [
      ...cases.map(([name, value]) => [name, { [name]: value }] as const),
      ["unreachable", { DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none" }] as const,
    ];
    exits = new Map(await Promise.all(runs.map(async ([key, env]) => [key, await runServiceToExit(CHAT_MAIN, { env })] as const)));
  });

  for (const [name, , pattern] of cases) {
    it(`exits 2 with one line naming ${name} when it is malformed`, () => {
      const { code, stderr } = exits.get(name)!;
      assert.equal(code, 2);
      assert.match(stderr, pattern);
    });
  }

  it("exits 1 with one clear line when the database is unreachable", () => {
    const { code, stderr } = exits.get("unreachable")!;
    assert.equal(code, 1);
    assert.match(stderr, /^chat: failed to start: .+\n$/);
  });
});

describe("chat process: serving with its defaults", () => {
  let user: ServiceProcess | undefined;
  let chat: ServiceProcess | undefined;
  let chats: Client<typeof ChatService>;
  let senderId: string;

  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    chat = await startServiceProcess(CHAT_MAIN, { env: { TRELLIS_STATIC_SERVICES: `user=${user.address}` } });
    chats = createClient(ChatService, chat.address);
    const users = createClient(UserService, user.address);
    try {
      senderId = (await users.createUser({ email: "main@example.com", displayName: "Main" })).user!.id;
    } finally {
      closeClient(users);
    }
  });
  after(async () => {
    closeClient(chats);
    await chat?.stop();
    await user?.stop();
  });

  it("finds the user service at the registry's target for user (static:///user) and says so when it listens", () => {
    const listening = chat!.logs.find((l) => typeof l["server.port"] === "number");
    assert.equal(listening?.["user_service.target"], "static:///user");
    assert.equal(listening?.["db.system"], "pglite");
    assert.match(
      String(listening?.["message"]),
      /^chat service listening on .+ \(gRPC\), admin on http:\/\/.+; calls user at static:\/\/\/user$/,
    );
  });

  it("pages History by 50 when the request says 0 and by at most 500", async () => {
    for (let i = 0; i < 501; i += 1) await chats.send({ room: "paged", senderId, text: `message ${i}` });
    const byDefault = await chats.history({ room: "paged" });
    assert.equal(byDefault.messages.length, 50);
    assert.equal(byDefault.messages[0]?.text, "message 500", "newest first");
    const capped = await chats.history({ room: "paged", pageSize: 5000 });
    assert.equal(capped.messages.length, 500);
    const rest = await chats.history({ room: "paged", pageSize: 5000, pageToken: capped.nextPageToken });
    assert.deepEqual(
      rest.messages.map((m) => m.text),
      ["message 0"],
    );
    assert.equal(rest.nextPageToken, "");
  });

  it("on SIGTERM drains, closes what it owns and exits 0", async () => {
    await chat!.stop();
    assert.equal(await chat!.exited, 0);
    assert.ok(
      chat!.logs.some((l) => l["event.action"] === "shutdown-complete"),
      "it logged the end of its shutdown",
    );
  });
});

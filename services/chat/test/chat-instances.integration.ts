/**
 * Chat across instances on a real PostgreSQL: a user process and two chat processes sharing one
 * database (DATABASE_URL), as a scaled-out deployment runs them. What one chat instance stores
 * and announces (LISTEN/NOTIFY), the other delivers and serves.
 *   TEST_DATABASE_URL=postgres://user:pass@localhost:5432/db npm run test:chat-instances
 * Not a `.spec` file, so `npm test` does not need a database; CI runs it (`.ci/run`, step chat).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { closeClient, createClient, type Client } from "@trellis/kit";
import { startServiceProcess, waitFor, type ServiceProcess } from "@trellis/kit/testing";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService, PresenceEvent_Kind, type ChatEvent } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ChatRequestSchema } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { CHAT_MAIN, USER_MAIN } from "./service-mains.js";

const databaseUrl = process.env["TEST_DATABASE_URL"];

/** Reads a room's events on one instance in the background, until `signal` aborts. */
function subscribe(chat: Client<typeof ChatService>, room: string, signal: AbortSignal): { readonly events: ChatEvent[] } {
  const events: ChatEvent[] = [];
  void (async () => {
    for await (const { event } of chat.subscribe({ room }, { signal })) if (event !== undefined) events.push(event);
  })().catch(() => undefined); // ended by the abort
  return { events };
}

const texts = (events: readonly ChatEvent[]): string[] => events.flatMap((e) => (e.kind.case === "message" ? [e.kind.value.text] : []));

if (databaseUrl === undefined || databaseUrl === "") {
  describe("chat across instances on PostgreSQL", () => {
    it("needs TEST_DATABASE_URL", () => {
      assert.fail(
        "TEST_DATABASE_URL is not set: point it at a PostgreSQL database the test may write to, e.g. " +
          "TEST_DATABASE_URL=postgres://trellis:trellis@localhost:5432/trellis_chat npm run test:chat-instances",
      );
    });
  });
} else {
  describe("chat across instances on PostgreSQL: two chat processes, one database", () => {
    let user: ServiceProcess | undefined;
    let chatA: ServiceProcess | undefined;
    let chatB: ServiceProcess | undefined;
    let a: Client<typeof ChatService>;
    let b: Client<typeof ChatService>;
    let senderId: string;
    // Unique per run: the database may hold earlier runs' messages.
    const run = randomUUID().slice(0, 8);
    const subscriptions = new AbortController();

    before(async () => {
      const env = { DATABASE_URL: databaseUrl };
      user = await startServiceProcess(USER_MAIN, { env });
      const chatEnv = { ...env, TRELLIS_STATIC_SERVICES: `user=${user.address}` };
      [chatA, chatB] = await Promise.all([
        startServiceProcess(CHAT_MAIN, { env: chatEnv }),
        startServiceProcess(CHAT_MAIN, { env: chatEnv }),
      ]);
      for (const chat of [chatA, chatB]) {
        const listening = chat.logs.find((l) => typeof l["server.port"] === "number");
        assert.equal(listening?.["db.system"], "postgresql", "chat runs on PostgreSQL");
      }
      a = createClient(ChatService, chatA.address);
      b = createClient(ChatService, chatB.address);
      const users = createClient(UserService, user.address);
      try {
        senderId = (await users.createUser({ email: `chat-${run}@example.com`, displayName: "Cross" })).user!.id;
      } finally {
        closeClient(users);
      }
    });
    after(async () => {
      subscriptions.abort();
      closeClient(a);
      closeClient(b);
      await Promise.all([chatA?.stop(), chatB?.stop()]);
      await user?.stop();
    });

    /** Sends probes through `via` until the subscription has one: from then on it misses nothing. */
    const untilListening = async (via: Client<typeof ChatService>, room: string, subscription: { readonly events: ChatEvent[] }) => {
      await waitFor(
        async () => {
          await via.send({ room, senderId, text: "probe" });
          return texts(subscription.events).includes("probe");
        },
        `a subscriber of ${room} gets messages sent through the other instance`,
        { intervalMs: 200 },
      );
    };

    it("delivers a message sent through instance B to a subscriber on instance A, and History on either returns it", async () => {
      const room = `cross-${run}`;
      const onA = subscribe(a, room, subscriptions.signal);
      await untilListening(b, room, onA);
      const { message } = await b.send({ room, senderId, text: "hello from B" });
      assert.equal(message?.senderName, "Cross");
      await waitFor(() => texts(onA.events).includes("hello from B"), "A's subscriber got B's message");
      const delivered = onA.events.find((e) => e.kind.case === "message" && e.kind.value.text === "hello from B");
      assert.equal(delivered?.kind.case === "message" ? delivered.kind.value.id : undefined, message?.id, "the same stored message");
      for (const [name, instance] of [
        ["A", a],
        ["B", b],
      ] as const) {
        const page = await instance.history({ room, pageSize: 1 });
        assert.equal(page.messages[0]?.id, message?.id, `History on ${name} returns it, newest first`);
        assert.equal(page.messages[0]?.text, "hello from B");
      }
    });

    it("relays a live session's presence and posts on B to a subscriber on A, in order", async () => {
      const room = `live-${run}`;
      const onA = subscribe(a, room, subscriptions.signal);
      await untilListening(b, room, onA);
      const requests: MessageInitShape<typeof ChatRequestSchema>[] = [
        { action: { case: "join", value: { room, userId: senderId } } },
        { action: { case: "post", value: { room, text: "one" } } },
        { action: { case: "post", value: { room, text: "two" } } },
      ];
      const session = new AbortController();
      const stayInTheRoom = new Promise((resolve) => session.signal.addEventListener("abort", resolve));
      const sessionEvents: ChatEvent[] = [];
      const sessionDone = (async () => {
        const outgoing = (async function* () {
          yield* requests;
          await stayInTheRoom;
        })();
        for await (const { event } of b.chat(outgoing, { signal: session.signal })) if (event !== undefined) sessionEvents.push(event);
      })().catch(() => undefined); // ended by the abort
      try {
        await waitFor(() => texts(onA.events).includes("two"), "A's subscriber got the session's posts");
        const afterProbes = onA.events.filter((e) => !(e.kind.case === "message" && e.kind.value.text === "probe"));
        assert.deepEqual(
          afterProbes.map((e) =>
            e.kind.case === "message"
              ? e.kind.value.text
              : e.kind.case === "presence"
                ? `${e.kind.value.displayName} ${PresenceEvent_Kind[e.kind.value.kind]}`
                : "?",
          ),
          ["Cross JOINED", "one", "two"],
        );
        await waitFor(() => texts(sessionEvents).includes("two"), "the session on B sees its own posts too");
      } finally {
        session.abort();
        await sessionDone;
      }
      assert.deepEqual(
        (await a.history({ room, pageSize: 2 })).messages.map((m) => m.text),
        ["two", "one"],
      );
    });

    it("keeps a session's post and its leaving in order, on the other instance and its own", async () => {
      // A message's row is read before it is delivered, presence is not: "bye" then leaving
      // used to reach subscribers as LEFT first.
      for (let round = 0; round < 20; round += 1) {
        const room = `bye-${run}-${round}`;
        const onA = subscribe(a, room, subscriptions.signal);
        const onB = subscribe(b, room, subscriptions.signal);
        await untilListening(b, room, onA);
        await untilListening(a, room, onB);
        const outgoing = (async function* () {
          yield { action: { case: "join" as const, value: { room, userId: senderId } } };
          yield { action: { case: "post" as const, value: { room, text: "bye" } } };
          yield { action: { case: "leave" as const, value: { room } } };
        })();
        for await (const _ of b.chat(outgoing)) void _; // ends once the requests did
        for (const [name, subscription] of [
          ["A", onA],
          ["B", onB],
        ] as const) {
          const seen = () =>
            subscription.events.flatMap((e) =>
              e.kind.case === "message"
                ? e.kind.value.text === "probe"
                  ? []
                  : [e.kind.value.text]
                : e.kind.case === "presence"
                  ? [PresenceEvent_Kind[e.kind.value.kind]]
                  : [],
            );
          await waitFor(() => seen().length >= 3, `the subscriber on ${name} got the session's three events`);
          assert.deepEqual(seen(), ["JOINED", "bye", "LEFT"], `round ${round}, on ${name}`);
        }
      }
    });

    it("delivers the other way too: sent through A, seen by a subscriber on B", async () => {
      const room = `back-${run}`;
      const onB = subscribe(b, room, subscriptions.signal);
      await untilListening(a, room, onB);
      await a.send({ room, senderId, text: "hello from A" });
      await waitFor(() => texts(onB.events).includes("hello from A"), "B's subscriber got A's message");
    });
  });
}

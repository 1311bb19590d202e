/**
 * The protocol scenarios, written once and run in two places: inside Chromium (probe.ts puts
 * them on the probe page's window) and in Node (the test calls them directly). Each calls the
 * edge with one of @connectrpc/connect-web's own transports and returns a plain, serialisable
 * summary the test asserts on.
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { ChangeType, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { BadRequestSchema, ResourceInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";

/**
 * The wire formats connect-web speaks, all served by the edge: gRPC-Web with binary protobuf
 * (what the app uses, and what Envoy's grpc_web filter serves) or with JSON messages
 * (`application/grpc-web+json`), and the Connect protocol with JSON or binary.
 */
export type ProbeProtocol = "grpc-web" | "grpc-web-json" | "connect" | "connect-binary";

/** A failed call as the test sees it. */
export interface ProbeFailure {
  readonly code: string;
  readonly message: string;
}

/** Every scenario, bound to the edge at `baseUrl`. */
export type Scenarios = ReturnType<typeof createScenarios>;

declare global {
  interface Window {
    /** The scenarios on the probe page (probe.ts), for the tests to call through Playwright. */
    trellisProbe: Scenarios;
  }
}

/** The scenarios against the edge at `baseUrl` (`location.origin` in the probe page). */
export function createScenarios(baseUrl: string) {
  const clients = (protocol: ProbeProtocol) => {
    const transport = transportFor(protocol, baseUrl);
    return { users: createClient(UserService, transport), chat: createClient(ChatService, transport) };
  };

  return {
    /** CreateUser then GetUser: the same user back, with its server-set fields. */
    async unary(protocol: ProbeProtocol) {
      const { users } = clients(protocol);
      const email = `unary-${unique()}@example.com`;
      const created = (await users.createUser({ email, displayName: "Unary Probe" })).user!;
      const fetched = (await users.getUser({ id: created.id })).user!;
      return {
        email: fetched.email,
        displayName: fetched.displayName,
        sameId: fetched.id === created.id,
        sameEtag: fetched.etag === created.etag,
        roles: fetched.roles.map((role) => role),
        hasCreateTime: fetched.createTime !== undefined && fetched.createTime.seconds > 0n,
      };
    },

    /** A bad CreateUser and a missing GetUser: status codes with their google.rpc details. */
    async errors(protocol: ProbeProtocol) {
      const { users } = clients(protocol);
      const bad = await failureOf(users.createUser({ email: "not-an-email", displayName: "" }));
      const gone = await failureOf(users.getUser({ id: "00000000-0000-4000-8000-000000000000" }));
      return {
        invalid: {
          code: Code[bad.code],
          fields: bad
            .findDetails(BadRequestSchema)
            .flatMap((detail) => detail.fieldViolations.map((v) => ({ field: v.field, description: v.description }))),
        },
        missing: {
          code: Code[gone.code],
          resources: gone.findDetails(ResourceInfoSchema).map((info) => ({ type: info.resourceType, name: info.resourceName })),
        },
      };
    },

    /** WatchUsers: response headers before any change (the stream is live), then the change made after them. */
    async watch(protocol: ProbeProtocol) {
      const { users } = clients(protocol);
      const controller = new AbortController();
      const events: string[] = [];
      const { promise: isLive, resolve: live } = deferred();
      const onHeader = (): void => {
        events.push("header");
        live();
      };
      const iterator = users.watchUsers({}, { signal: controller.signal, timeoutMs: 0, onHeader })[Symbol.asyncIterator]();
      const first = iterator.next();
      await isLive;
      const created = (await users.createUser({ email: `watch-${unique()}@example.com`, displayName: "Watch Probe" })).user!;
      const change = (await first).value;
      events.push("change");
      controller.abort();
      await iterator.return?.().catch(() => undefined);
      return {
        events,
        type: ChangeType[change?.type ?? 0],
        sameUser: change?.user?.id === created.id,
        hasResumeToken: (change?.resumeToken ?? "") !== "",
      };
    },

    /** Subscribe to a fresh room, Send to it, get the message back on the stream; History has it. */
    async chat(protocol: ProbeProtocol, senderId: string) {
      const { chat } = clients(protocol);
      const room = `probe-${unique()}`;
      const controller = new AbortController();
      const { promise: isLive, resolve: live } = deferred();
      const iterator = chat.subscribe({ room }, { signal: controller.signal, timeoutMs: 0, onHeader: live })[Symbol.asyncIterator]();
      const first = iterator.next();
      await isLive;
      const sent = (await chat.send({ room, senderId, text: `hello over ${protocol}` })).message!;
      const event = (await first).value?.event?.kind;
      controller.abort();
      await iterator.return?.().catch(() => undefined);
      const history = await chat.history({ room });
      return {
        kind: event?.case,
        sameMessage: event?.case === "message" && event.value.id === sent.id,
        text: event?.case === "message" ? event.value.text : undefined,
        historyIds: history.messages.map((m) => m.id),
        sentId: sent.id,
      };
    },

    /** A stream with a deadline nothing happens within: it ends with DEADLINE_EXCEEDED. */
    async deadline(protocol: ProbeProtocol, timeoutMs: number): Promise<ProbeFailure> {
      const { users } = clients(protocol);
      try {
        for await (const _ of users.watchUsers({}, { timeoutMs })) {
          // a change made meanwhile is fine: keep reading until the deadline
        }
        return { code: "OK", message: "" };
      } catch (error) {
        return summary(error);
      }
    },

    /** Starts a watch, waits until it is live (headers), then aborts it: CANCELED on the caller's side. */
    async cancel(protocol: ProbeProtocol): Promise<ProbeFailure> {
      const { users } = clients(protocol);
      const controller = new AbortController();
      const { promise: isLive, resolve: live } = deferred();
      const reading = (async () => {
        for await (const _ of users.watchUsers({}, { signal: controller.signal, timeoutMs: 0, onHeader: live })) {
          // nothing: the abort ends it
        }
      })();
      await Promise.race([isLive, reading]);
      controller.abort();
      try {
        await reading;
        return { code: "OK", message: "" };
      } catch (error) {
        return summary(error);
      }
    },
  };
}

function transportFor(protocol: ProbeProtocol, baseUrl: string): Transport {
  switch (protocol) {
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, useBinaryFormat: true });
    case "grpc-web-json":
      return createGrpcWebTransport({ baseUrl, useBinaryFormat: false });
    case "connect":
      return createConnectTransport({ baseUrl, useBinaryFormat: false });
    case "connect-binary":
      return createConnectTransport({ baseUrl, useBinaryFormat: true });
  }
}

const unique = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function summary(error: unknown): ProbeFailure {
  const failure = ConnectError.from(error);
  return { code: Code[failure.code], message: failure.rawMessage };
}

/** The error a call that must fail failed with (a success is a failure of the scenario). */
async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  return new ConnectError("the call succeeded, but it should have failed", Code.Unknown);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

import fc from "fast-check";
import { FUZZ_METHODS, type FuzzMethod, type ServiceName } from "../run/methods.js";
import { framesArbitrary, type FrameSpec } from "./frames-arbitrary.js";
import { framingPlanArbitrary, headerPlanArbitrary, type FramingPlan, type HeaderPlan } from "./framing-arbitrary.js";
import { messageArbitrary, type FieldHints, type MessageTree } from "./message-arbitrary.js";
import { blindChatHints, requestHints } from "./request-hints.js";
import { mutationsArbitrary, type Mutation } from "./wire-mutations.js";

/** A request message before it is sent: its values (with Refs) and the damage done to its encoding. */
export interface RequestSpec {
  readonly tree: MessageTree;
  readonly mutations: readonly Mutation[];
}

/** (a)/(b): one call of a unary, server-streaming or client-streaming method, well framed. */
export interface MessageCase {
  readonly family: "message";
  readonly method: string;
  readonly requests: readonly RequestSpec[];
  /** Sent as grpc-timeout. */
  readonly deadlineMs: number;
}

/**
 * (a)/(b) for the bidi Chat method. `interactive`: a real user names itself
 * with a join of a room of its own, and after each fuzzed request a join of
 * that room echoes JOINED (the request was accepted) or the stream ends (it
 * was refused), so each request's fate is known exactly. `blind`: every
 * request at once, naming only users that do not exist.
 */
export interface ChatSessionCase {
  readonly family: "chat-session";
  readonly mode: "interactive" | "blind";
  readonly requests: readonly RequestSpec[];
}

/** (c): a call with random gRPC framing and headers. */
export interface FramingCase {
  readonly family: "framing";
  readonly method: string;
  readonly requests: readonly RequestSpec[];
  readonly framing: FramingPlan;
  readonly headers: HeaderPlan;
}

/** (d): random HTTP/2 frames on a connection of their own. */
export interface FramesCase {
  readonly family: "frames";
  readonly service: ServiceName;
  readonly frames: readonly FrameSpec[];
}

/** One fuzz case. */
export type FuzzCase = MessageCase | ChatSessionCase | FramingCase | FramesCase;

/** How the suite labels a case in its counts: family, kind of damage and method. */
export function caseLabel(c: FuzzCase): string {
  const mutated = (requests: readonly RequestSpec[]): string => (requests.some((r) => r.mutations.length > 0) ? "mutated" : "valid");
  switch (c.family) {
    case "message":
      return `${mutated(c.requests)} ${c.method}`;
    case "chat-session":
      return `${mutated(c.requests)} ChatService/Chat (${c.mode})`;
    case "framing":
      return `framing ${c.method}`;
    case "frames":
      return `frames ${c.service}`;
  }
}

function requestsFor(method: FuzzMethod, hints: FieldHints, mutate: boolean): fc.Arbitrary<RequestSpec[]> {
  const one = (mutations: fc.Arbitrary<Mutation[]>): fc.Arbitrary<RequestSpec> =>
    fc.record({ tree: messageArbitrary(method.desc.input, hints), mutations });
  const clean = fc.constant<Mutation[]>([]);
  if (method.kind === "unary" || method.kind === "server_streaming") return fc.tuple(one(mutate ? mutationsArbitrary() : clean));
  const list = (item: fc.Arbitrary<RequestSpec>): fc.Arbitrary<RequestSpec[]> =>
    fc.oneof({ arbitrary: fc.array(item, { minLength: 1, maxLength: 6 }), weight: 8 }, { arbitrary: fc.array(item, { maxLength: 0 }), weight: 1 }, { arbitrary: fc.array(item, { minLength: 20, maxLength: 60 }), weight: 1 });
  if (!mutate) return list(one(clean));
  // Some messages damaged, at least one.
  return fc.tuple(list(one(fc.oneof({ arbitrary: clean, weight: 2 }, { arbitrary: mutationsArbitrary(), weight: 1 }))), one(mutationsArbitrary()), fc.nat()).map(([rest, bad, at]) => {
    const out = [...rest];
    out.splice(at % (out.length + 1), 0, bad);
    return out;
  });
}

function deadlineFor(method: FuzzMethod): fc.Arbitrary<number> {
  return method.kind === "server_streaming" || method.kind === "bidi_streaming" ? fc.integer({ min: 10, max: 150 }) : fc.constant(10_000);
}

/** Every family for every method, weighted so that a run of 10,000 cases gives every method of every family over a hundred. */
export function fuzzCaseArbitrary(): fc.Arbitrary<FuzzCase> {
  const hints = requestHints();
  const blind = blindChatHints();
  const valid: fc.Arbitrary<FuzzCase>[] = [];
  const mutated: fc.Arbitrary<FuzzCase>[] = [];
  const framing: fc.Arbitrary<FuzzCase>[] = [];
  for (const method of FUZZ_METHODS) {
    if (method.kind === "bidi_streaming") {
      const session = (mode: "interactive" | "blind", mutate: boolean): fc.Arbitrary<FuzzCase> =>
        fc.record({
          family: fc.constant("chat-session" as const),
          mode: fc.constant(mode),
          requests: fc.array(
            fc.record({
              tree: messageArbitrary(method.desc.input, mode === "blind" ? blind : hints),
              mutations: mutate ? fc.oneof({ arbitrary: fc.constant<Mutation[]>([]), weight: 2 }, { arbitrary: mutationsArbitrary(), weight: 1 }) : fc.constant<Mutation[]>([]),
            }),
            { minLength: 1, maxLength: 6 },
          ),
        });
      valid.push(fc.oneof(session("interactive", false), session("blind", false)));
      mutated.push(fc.oneof(session("interactive", true), session("blind", true)));
    } else {
      for (const mutate of [false, true]) {
        (mutate ? mutated : valid).push(
          fc.record({ family: fc.constant("message" as const), method: fc.constant(method.name), requests: requestsFor(method, hints, mutate), deadlineMs: deadlineFor(method) }),
        );
      }
    }
    const streamingResponse = method.kind === "server_streaming" || method.kind === "bidi_streaming";
    framing.push(
      fc.record({
        family: fc.constant("framing" as const),
        method: fc.constant(method.name),
        requests: fc.array(fc.record({ tree: messageArbitrary(method.desc.input, method.kind === "bidi_streaming" ? blind : hints), mutations: fc.constant<Mutation[]>([]) }), { minLength: 1, maxLength: 2 }),
        framing: framingPlanArbitrary(),
        headers: headerPlanArbitrary(streamingResponse),
      }),
    );
  }
  const frames = fc.record({ family: fc.constant("frames" as const), service: fc.constantFrom<ServiceName>("user", "chat"), frames: framesArbitrary() });
  // Raw-frame cases are the slowest by far (a connection ended by a protocol error is only
  // closed by the server's keepalive probe), hence their small share.
  return fc.oneof(
    { arbitrary: fc.oneof(...valid), weight: 42 },
    { arbitrary: fc.oneof(...mutated), weight: 27 },
    { arbitrary: fc.oneof(...framing), weight: 26 },
    { arbitrary: frames, weight: 5 },
  );
}

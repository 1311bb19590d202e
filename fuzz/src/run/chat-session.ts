import { create, toBinary } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatResponseSchema, PresenceEvent_Kind, type ChatRequest } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import type { ChatSessionCase } from "../gen/fuzz-case.js";
import { checkOutcome, describeOutcome, receivedCode } from "../oracle/call-properties.js";
import { show, type Violation } from "../oracle/violation.js";
import type { OpenCall } from "../wire/grpc-call.js";
import { lengthPrefixed } from "../wire/grpc-framing.js";
import { GRACE_MS, processesAlive, type CaseResult } from "./case-result.js";
import { encodeRequest, tryDecode } from "./codec.js";
import type { Lane } from "./lane.js";
import { methodNamed } from "./methods.js";
import { recordOutcome } from "./record-outcome.js";

const CHAT = methodNamed("ChatService/Chat");
/** The session's own deadline: long enough for every step, short enough that a stuck session ends. */
const SESSION_DEADLINE_MS = 20_000;
/** How long one step may take to show its barrier event (or end the stream). */
const STEP_WATCHDOG_MS = 10_000;
/** RST_STREAM REFUSED_STREAM: the server did not process the stream; a client may retry it. */
const REFUSED_STREAM = 7;

const encode = (request: Parameters<typeof create<typeof ChatRequestSchema>>[1]): Buffer =>
  lengthPrefixed(Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, request))));

/**
 * Waits for the presence event `kind` of `userId` in `room`, skipping every
 * other event; false when the stream ended first, "hang" when neither happened in time.
 */
async function barrier(call: OpenCall, room: string, userId: string, kind: PresenceEvent_Kind): Promise<boolean | "hang"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), STEP_WATCHDOG_MS)));
  try {
    for (;;) {
      const next = await Promise.race([call.nextMessage(), timeout]);
      if (next === "hang") return "hang";
      if (next === undefined) return false;
      const event = tryDecode(ChatResponseSchema, next)?.event?.kind;
      if (event?.case === "presence" && event.value.room === room && event.value.userId === userId && event.value.kind === kind)
        return true;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The Chat method, family (a)/(b). Interactive: one of the harness' users
 * names itself with a join of a room of its own, and after each fuzzed request
 * joining that room again must echo a JOINED event (then it leaves it) —
 * requests on a stream are handled in order, so the echo proves the fuzzed
 * request was accepted, and a stream that ends instead proves it was refused.
 * Blind: every request sent at once, on behalf of users that do not exist.
 */
export async function runChatSession(c: ChatSessionCase, lane: Lane): Promise<CaseResult> {
  const { world } = lane;
  const callId = lane.nextCallId();
  const requests = c.requests.map((r) => encodeRequest(CHAT.desc.input, r.tree, r.mutations, world.sources));
  const open = (): OpenCall =>
    lane.connection("chat").open({
      path: CHAT.path,
      headers: { "grpc-timeout": `${SESSION_DEADLINE_MS}m`, "x-request-id": callId },
      watchdogMs: SESSION_DEADLINE_MS + GRACE_MS,
    });
  let call = open();
  const steps: string[] = [];
  const violations: Violation[] = [];
  const seen: Buffer[] = [];
  const userId = world.chatUserIds[lane.id % world.chatUserIds.length]!;
  const room = `zz-barrier-${callId.replace(/[^a-z0-9]/gi, "-").toLowerCase()}`;
  let live = true;

  if (c.mode === "interactive") {
    // The first join names the stream's user; leaving at once keeps the fuzzed joins' room count as it would be.
    const setUp = async (): Promise<boolean | "hang"> => {
      call.write(encode({ action: { case: "join", value: { room, userId } } }));
      const joined = await barrier(call, room, userId, PresenceEvent_Kind.JOINED);
      call.write(encode({ action: { case: "leave", value: { room } } }));
      return joined;
    };
    let joined = await setUp();
    const refused = joined === false ? await call.outcome : undefined;
    if (refused?.kind === "reset" && refused.rstCode === REFUSED_STREAM) {
      // The connection was going away (GOAWAY) when the stream opened: a client retries on a new one.
      lane.connection("chat").close();
      call = open();
      joined = await setUp();
    }
    if (joined !== true) {
      violations.push({
        property: joined === "hang" ? "no hang" : "a valid join is accepted",
        detail: `the session's first join (${userId} to ${room}) got no JOINED event`,
      });
      live = false;
    }
    for (const [i, request] of requests.entries()) {
      if (!live) break;
      call.write(lengthPrefixed(request.bytes));
      seen.push(request.bytes);
      // A join's JOINED event comes to the joiner (it subscribes before announcing), so it can mark the step.
      call.write(encode({ action: { case: "join", value: { room } } }));
      const acknowledged = await barrier(call, room, userId, PresenceEvent_Kind.JOINED);
      call.write(encode({ action: { case: "leave", value: { room } } }));
      if (acknowledged === "hang") {
        violations.push({
          property: "no hang",
          detail: `request [${i}]: the stream neither acknowledged it (barrier) nor ended within ${STEP_WATCHDOG_MS} ms`,
        });
        live = false;
        break;
      }
      if (!acknowledged) {
        steps.push(`[${i}] refused: ${show(request.values)}`);
        live = false;
        break;
      }
      const decoded: ChatRequest | undefined = tryDecode(ChatRequestSchema, request.bytes);
      steps.push(`[${i}] accepted: ${show(request.values)}`);
      if (decoded === undefined) world.chatLedger.posted(userId, undefined, `${callId} request ${i}`);
      else if (decoded.action.case === "post") world.chatLedger.posted(userId, decoded.action.value, `${callId} request ${i}`);
    }
    if (live) call.end();
    else if (violations.length > 0) call.abandon();
  } else {
    for (const request of requests) {
      call.write(lengthPrefixed(request.bytes));
      seen.push(request.bytes);
    }
    call.end();
  }
  // Drain what is left; the stream must end on its own (half-closed, or refused).
  while ((await call.nextMessage()) !== undefined) {
    // events of the rooms joined
  }
  const outcome = await call.outcome;
  const source = `${callId} ChatService/Chat (${c.mode}) → ${describeOutcome(outcome)}`;
  violations.push(
    ...checkOutcome(outcome, { implementedPath: true, singleResponse: false, watchdogMs: SESSION_DEADLINE_MS + GRACE_MS }),
    ...recordOutcome(world, CHAT, seen, outcome, source),
    ...processesAlive(world),
  );
  const transcript = [
    `ChatService/Chat ${c.mode} (x-request-id ${callId}${c.mode === "interactive" ? `, as ${userId}, barrier room ${room}` : ""}):`,
    ...requests.map(
      (r, i) =>
        `  [${i}] ${show(r.values)}${c.requests[i]!.mutations.length > 0 ? `\n      damaged by ${show(c.requests[i]!.mutations)} → bytes ${show(r.bytes)}` : ""}`,
    ),
    ...steps.map((s) => `  ${s}`),
    `  → ${describeOutcome(outcome)}`,
  ].join("\n");
  world.recordCall(callId, CHAT.path, receivedCode(outcome), transcript);
  return { violations, transcript };
}

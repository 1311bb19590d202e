import type { MessageCase } from "../gen/fuzz-case.js";
import { checkOutcome, describeOutcome, receivedCode } from "../oracle/call-properties.js";
import { show } from "../oracle/violation.js";
import { lengthPrefixed } from "../wire/grpc-framing.js";
import { GRACE_MS, processesAlive, type CaseResult } from "./case-result.js";
import { encodeRequest } from "./codec.js";
import type { Lane } from "./lane.js";
import { methodNamed } from "./methods.js";
import { recordOutcome } from "./record-outcome.js";

/** Families (a) and (b) for unary, server- and client-streaming methods: well-framed messages, valid-shaped or damaged. */
export async function runMessageCase(c: MessageCase, lane: Lane): Promise<CaseResult> {
  const { world } = lane;
  const method = methodNamed(c.method);
  const requests = c.requests.map((r) => encodeRequest(method.desc.input, r.tree, r.mutations, world.sources));
  const callId = lane.nextCallId();
  const watchdogMs = c.deadlineMs + GRACE_MS;
  const outcome = await lane.connection(method.service).call({
    path: method.path,
    headers: { "grpc-timeout": `${c.deadlineMs}m`, "x-request-id": callId },
    chunks: requests.map((r) => lengthPrefixed(r.bytes)),
    watchdogMs,
  });
  const source = `${callId} ${method.name} → ${describeOutcome(outcome)}`;
  const violations = [
    ...checkOutcome(outcome, {
      implementedPath: true,
      singleResponse: method.kind === "unary" || method.kind === "client_streaming",
      watchdogMs,
    }),
    ...recordOutcome(
      world,
      method,
      requests.map((r) => r.bytes),
      outcome,
      source,
    ),
    ...processesAlive(world),
  ];
  const transcript = [
    `${method.name} (x-request-id ${callId}, grpc-timeout ${c.deadlineMs}m), ${requests.length} message(s):`,
    ...requests.map(
      (r, i) =>
        `  [${i}] ${show(r.values)}${c.requests[i]!.mutations.length > 0 ? `\n      damaged by ${show(c.requests[i]!.mutations)} → bytes ${show(r.bytes)}` : ""}`,
    ),
    `  → ${describeOutcome(outcome)}${outcome.messages.length > 0 ? ` after ${outcome.messages.length} response message(s)` : ""}`,
  ].join("\n");
  world.recordCall(callId, method.path, receivedCode(outcome), transcript);
  return { violations, transcript };
}

import { gzipSync } from "node:zlib";
import type { FramingCase } from "../gen/fuzz-case.js";
import { parseGrpcTimeout, type FramingPlan, type HeaderPlan } from "../gen/framing-arbitrary.js";
import { checkOutcome, describeOutcome, receivedCode } from "../oracle/call-properties.js";
import { show } from "../oracle/violation.js";
import { lengthPrefixed, parseMessages } from "../wire/grpc-framing.js";
import { SERVER_CALL_BOUND_MS } from "../harness/fuzz-stack.js";
import { GRACE_MS, processesAlive, type CaseResult } from "./case-result.js";
import { encodeRequest, messageBody } from "./codec.js";
import type { Lane } from "./lane.js";
import { FUZZ_METHODS, methodNamed, type FuzzMethod } from "./methods.js";
import { recordOutcome } from "./record-outcome.js";

const MAX_BYTE_CHUNKS = 64;
/** Paths every Trellis server implements besides its own service. */
const COMMON_PATHS = ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List"];

/** The DATA chunks a framing plan produces from the call's request bodies. */
export function frameBodies(plan: FramingPlan, bodies: readonly Buffer[]): Buffer[] {
  const messages = plan.messages.map((m) => {
    let body = m.body === -1 || bodies.length === 0 ? Buffer.alloc(0) : bodies[m.body % bodies.length]!;
    if (m.flag === 1 && m.gzip) body = gzipSync(body);
    return lengthPrefixed(body, { flag: m.flag, declaredLength: (body.length + m.lengthDelta) % 2 ** 32 });
  });
  const all = Buffer.concat([...messages, plan.trailing]);
  switch (plan.chunking) {
    case "whole":
      return all.length === 0 ? [] : [all];
    case "per-message":
      return [...messages, ...(plan.trailing.length > 0 ? [Buffer.from(plan.trailing)] : [])];
    case "bytes": {
      const head = [...all.subarray(0, MAX_BYTE_CHUNKS)].map((byte) => Buffer.from([byte]));
      return all.length > MAX_BYTE_CHUNKS ? [...head, all.subarray(MAX_BYTE_CHUNKS)] : head;
    }
    case "split": {
      const at = all.length === 0 ? 0 : plan.splitAt % all.length;
      return [all.subarray(0, at), all.subarray(at)].filter((chunk) => chunk.length > 0);
    }
  }
}

/** The request headers a plan gives (x-request-id unless the plan sends its own). */
export function headersOf(plan: HeaderPlan, path: string, callId: string): Record<string, string | readonly string[] | null> {
  const headers: Record<string, string | readonly string[] | null> = {
    ":method": plan.httpMethod,
    "content-type": plan.contentType,
    te: plan.te,
    "x-request-id": callId,
  };
  if (plan.timeout !== null) headers["grpc-timeout"] = plan.timeout;
  if (plan.encoding !== null) headers["grpc-encoding"] = plan.encoding;
  if (plan.acceptEncoding !== null) headers["grpc-accept-encoding"] = plan.acceptEncoding;
  for (const [name, value] of plan.metadata) headers[name] = value;
  headers[":path"] = path;
  return headers;
}

/** The message encodings grpc-js implements; for any other grpc-encoding the gRPC spec prescribes UNIMPLEMENTED. */
const SUPPORTED_ENCODINGS = [null, "identity", "gzip", "deflate"];

/** Whether a call to `path` is a well-formed call of a method `method`'s server implements (so UNIMPLEMENTED would be wrong). */
function implemented(method: FuzzMethod, path: string, plan: HeaderPlan): boolean {
  const served = FUZZ_METHODS.filter((m) => m.service === method.service).map((m) => m.path);
  return (
    plan.httpMethod === "POST" &&
    (plan.contentType ?? "").startsWith("application/grpc") &&
    SUPPORTED_ENCODINGS.includes(plan.encoding) &&
    (served.includes(path) || COMMON_PATHS.includes(path))
  );
}

/** How long the call may take before it counts as hung. */
function watchdogFor(method: FuzzMethod, plan: HeaderPlan, framing: FramingPlan): number {
  const deadline = plan.timeout === null ? undefined : parseGrpcTimeout(plan.timeout);
  if (deadline !== undefined) return Math.min(deadline, 15_000) + GRACE_MS;
  const singleResponse = method.kind === "unary" || method.kind === "client_streaming";
  // No deadline (or a malformed one): a complete request is answered at once; an incomplete one by the server's cap.
  return (singleResponse && !framing.endStream ? SERVER_CALL_BOUND_MS : 10_000) + GRACE_MS;
}

/** Family (c): random framing and headers on a call of `c.method`. */
export async function runFramingCase(c: FramingCase, lane: Lane): Promise<CaseResult> {
  const { world } = lane;
  const method = methodNamed(c.method);
  const requests = c.requests.map((r) => encodeRequest(method.desc.input, r.tree, r.mutations, world.sources));
  const chunks = frameBodies(
    c.framing,
    requests.map((r) => r.bytes),
  );
  const callId = lane.nextCallId();
  const path = c.headers.pathOverride ?? method.path;
  const watchdogMs = watchdogFor(method, c.headers, c.framing);
  const outcome = await lane
    .connection(method.service)
    .call({ path, headers: headersOf(c.headers, path, callId), chunks, endStream: c.framing.endStream, watchdogMs });
  const source = `${callId} ${method.name} (framing) → ${describeOutcome(outcome)}`;
  // What the server should have seen, if it frames by the spec.
  const seen = parseMessages(Buffer.concat(chunks)).messages.map((m) => messageBody(m.body, m.flag, c.headers.encoding));
  const violations = [
    ...checkOutcome(outcome, {
      implementedPath: implemented(method, path, c.headers),
      singleResponse: path === method.path && (method.kind === "unary" || method.kind === "client_streaming"),
      watchdogMs,
    }),
    ...recordOutcome(world, method, seen, outcome, source, { toMethod: path === method.path, complete: c.framing.endStream }),
    ...processesAlive(world),
  ];
  const transcript = [
    `${method.name} with random framing (x-request-id ${callId}), path ${show(path)}:`,
    ...requests.map((r, i) => `  body [${i}] ${show(r.values)}`),
    `  framing ${show(c.framing)}`,
    `  headers ${show(c.headers)}`,
    `  → ${describeOutcome(outcome)}`,
  ].join("\n");
  world.recordCall(callId, path, receivedCode(outcome), transcript);
  return { violations, transcript };
}

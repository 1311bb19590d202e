import { randomUUID } from "node:crypto";
import { ChatService, type ChatMessage } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService, type User } from "@trellis/api/trellis/user/v1/user_pb.js";
import type { ServiceProcess } from "../harness/service-process.js";
import { show, type Violation } from "../oracle/violation.js";
import type { FuzzWorld } from "./fuzz-world.js";
import { PROCESS_GONE } from "./case-result.js";
import { CallFailed } from "./plain-client.js";

const AUDIT_CALL_MS = 15_000;

/**
 * The checks after a batch, with no case running: both processes alive and
 * answering /healthz; their logs, read up to a barrier call's access line,
 * free of crashes, stack traces and server faults; the users table and
 * change feed, and the messages of every room the batch touched, exactly what
 * the OK calls wrote.
 */
export async function auditBatch(world: FuzzWorld, batch: number): Promise<Violation[]> {
  return withTranscripts(world, await audit(world, batch));
}

/** Each violation with the transcripts of the fuzz calls it names (by x-request-id), so that the report shows their input. */
function withTranscripts(world: FuzzWorld, violations: readonly Violation[]): Violation[] {
  return violations.map((v) => {
    const ids = [...new Set(v.detail.match(/fuzz-L\d+\.\d+/g) ?? [])].filter((id) => world.callTranscripts.has(id)).slice(0, 4);
    return ids.length === 0
      ? v
      : {
          ...v,
          detail: `${v.detail}\n${ids.map((id) => `    ${id}: ${world.callTranscripts.get(id)!.replace(/\n/g, "\n    ")}`).join("\n")}`,
        };
  });
}

async function audit(world: FuzzWorld, batch: number): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const p of world.stack.processes) {
    const exit = p.exitStatus();
    if (exit !== undefined) {
      violations.push({ property: PROCESS_GONE, detail: `${p.name} ended (${exit}); last output:\n${p.logs.tail().join("\n")}` });
      continue;
    }
    const status = await p.healthz(AUDIT_CALL_MS);
    if (status !== 200) violations.push({ property: "/healthz answers 200", detail: `${p.name}: ${status}` });
  }
  if (violations.length > 0) return violations;

  violations.push(
    ...(await logProblems(world, world.stack.user, `fuzz-audit-${batch}-user`, (headers) =>
      world.users.unary(UserService.method.getUser, { id: randomUUID() }, { timeoutMs: AUDIT_CALL_MS, headers }),
    )),
  );
  violations.push(
    ...(await logProblems(world, world.stack.chat, `fuzz-audit-${batch}-chat`, (headers) =>
      world.chat.unary(ChatService.method.history, { room: "general", pageSize: 1 }, { timeoutMs: AUDIT_CALL_MS, headers }),
    )),
  );

  try {
    const { user: sentinel } = await world.users.unary(
      UserService.method.createUser,
      { email: `sentinel-${batch}@fuzz.harness`, displayName: "Sentinel" },
      { timeoutMs: AUDIT_CALL_MS },
    );
    world.userLedger.created(sentinel!, `audit ${batch}: sentinel`);
    await world.oracle.waitForChange(sentinel!.id, AUDIT_CALL_MS);
    violations.push(...world.userLedger.audit(await listAllUsers(world), world.oracle.take()));
  } catch (error) {
    violations.push({ property: "a well-behaved client is served", detail: `user audit: ${(error as Error).message}` });
  }
  try {
    const rooms = new Map<string, ChatMessage[]>();
    for (const room of world.chatLedger.touchedRooms()) rooms.set(room, await roomHistory(world, room));
    violations.push(...world.chatLedger.audit(rooms));
  } catch (error) {
    violations.push({ property: "a well-behaved client is served", detail: `chat audit: ${(error as Error).message}` });
  }
  return violations;
}

/** Makes a call tagged `requestId`, waits for its access line, and turns every problem logged before it into a violation. */
async function logProblems(
  world: FuzzWorld,
  p: ServiceProcess,
  requestId: string,
  call: (headers: Record<string, string>) => Promise<unknown>,
): Promise<Violation[]> {
  const logged = p.logs.waitForEntry((entry) => entry["http.request.id"] === requestId, AUDIT_CALL_MS);
  const violations: Violation[] = [];
  try {
    await call({ "x-request-id": requestId }).catch((error: unknown) => {
      if (!(error instanceof CallFailed && error.code === 5)) throw error; // NOT_FOUND is the user barrier's answer
    });
    await logged;
  } catch (error) {
    logged.catch(() => undefined);
    violations.push({ property: "a well-behaved client is served", detail: `${p.name} log barrier: ${(error as Error).message}` });
  }
  // A call the server logged as OK must have reached the client as OK, and the other way round:
  // otherwise a client is told of a write that did not happen, or not told of one that did.
  // (Chat passes the request id on to its user lookups: only the fuzz call's own method counts.)
  for (const line of p.logs.takeAccessLines("fuzz-")) {
    const call = world.callOutcomes.get(line.requestId);
    if (call === undefined || `/${line.method}` !== call.path || call.received === "hang") continue;
    if ((line.code === "OK") !== (call.received === "OK")) {
      violations.push({
        property: "the client gets the status the server logged",
        detail: `${p.name} logged ${line.method} ${line.requestId} as ${line.code}; the client received ${call.received}`,
      });
    }
  }
  // One violation per kind of problem (same reason, same first words), with a count and the first line.
  const kinds = new Map<string, { first: string; count: number }>();
  for (const problem of p.logs.takeProblems()) {
    const call = problem.requestId !== undefined && world.callTranscripts.has(problem.requestId) ? problem.requestId : undefined;
    const entry = `${problem.stream}: ${problem.reason}${call === undefined ? "" : ` (call ${call})`}: ${show(problem.line, 600)}`;
    // JSON entries by reason and method; raw lines by their first words.
    const kind = problem.line.startsWith("{")
      ? `${problem.reason}|${problem.method ?? ""}`
      : `${problem.reason}|${problem.line.slice(0, 24)}`;
    const seen = kinds.get(kind);
    if (seen === undefined) kinds.set(kind, { first: entry, count: 1 });
    else seen.count += 1;
  }
  for (const [kind, { first, count }] of kinds) {
    violations.push({
      property: kind.startsWith("call answered") ? "no INTERNAL or UNKNOWN for bad input" : "a clean server log",
      detail: `${p.name} ${first}${count > 1 ? ` (and ${count - 1} more like it)` : ""}`,
    });
  }
  return violations;
}

async function listAllUsers(world: FuzzWorld): Promise<User[]> {
  const all: User[] = [];
  let pageToken = "";
  do {
    const page = await world.users.unary(UserService.method.listUsers, { pageSize: 1000, pageToken }, { timeoutMs: AUDIT_CALL_MS });
    all.push(...page.users);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

async function roomHistory(world: FuzzWorld, room: string): Promise<ChatMessage[]> {
  const all: ChatMessage[] = [];
  let pageToken = "";
  do {
    const page = await world.chat.unary(ChatService.method.history, { room, pageSize: 500, pageToken }, { timeoutMs: AUDIT_CALL_MS });
    all.push(...page.messages);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { startFuzzStack, type FuzzStack } from "../harness/fuzz-stack.js";
import { createChatLedger, type ChatLedger } from "../oracle/chat-ledger.js";
import { createUserLedger, type UserLedger } from "../oracle/user-ledger.js";
import { openOracleWatch, type OracleWatch } from "./oracle-watch.js";
import { createPlainClient, type PlainClient } from "./plain-client.js";
import type { RefSources } from "./resolve-refs.js";

/** Everything the cases of one run share: the processes, well-behaved clients, the ledgers, the values Refs resolve to. */
export interface FuzzWorld {
  readonly stack: FuzzStack;
  /** Well-behaved clients of each service. */
  readonly users: PlainClient;
  readonly chat: PlainClient;
  readonly userLedger: UserLedger;
  readonly chatLedger: ChatLedger;
  readonly oracle: OracleWatch;
  readonly chatUserIds: readonly string[];
  readonly sources: RefSources;
  /** Remembers a page token a response carried (bounded). */
  addPageToken(kind: "user" | "history", token: string): void;
  /** Each fuzz call's transcript by its x-request-id, for the audit's reports. */
  readonly callTranscripts: ReadonlyMap<string, string>;
  /** Each fuzz call's method path and the status code it received (by x-request-id), or how it ended without one. */
  readonly callOutcomes: ReadonlyMap<string, { readonly path: string; readonly received: string }>;
  /** Records a finished fuzz call (and, with a log folder, appends its transcript to calls.log there). */
  recordCall(callId: string, path: string, received: string, transcript: string): void;
  /** Per lane, the cases it ran last (newest last, the one running included): what a crash report shows. */
  readonly recentCases: Map<number, string[]>;
  close(): Promise<void>;
}

const CHAT_USERS = 4;
const MAX_TOKENS = 100;
const SETUP_TIMEOUT_MS = 10_000;

/**
 * Starts the processes (keeping their output in `logDir`, if given) and
 * prepares what the cases need: chat users, a first page token of each kind,
 * the oracle watch.
 */
export async function createFuzzWorld(logDir?: string): Promise<FuzzWorld> {
  const stack = await startFuzzStack(logDir);
  const users = createPlainClient(stack.user.address);
  const chat = createPlainClient(stack.chat.address);
  const closeAll = async (oracle?: OracleWatch): Promise<void> => {
    oracle?.close();
    users.close();
    chat.close();
    await stack.stop();
  };
  try {
    const oracle = await openOracleWatch(users);
    const userLedger = createUserLedger();
    const chatLedger = createChatLedger();
    const chatUserIds: string[] = [];
    for (let i = 0; i < CHAT_USERS; i++) {
      const { user } = await users.unary(
        UserService.method.createUser,
        { email: `chat-${i}@fuzz.harness`, displayName: `Chat User ${i}` },
        { timeoutMs: SETUP_TIMEOUT_MS },
      );
      userLedger.created(user!, "harness: chat user");
      chatUserIds.push(user!.id);
    }
    const pageTokens: string[] = [];
    const historyTokens: string[] = [];
    const keep = (list: string[], token: string): void => {
      if (token === "" || list.includes(token)) return;
      list.push(token);
      if (list.length > MAX_TOKENS) list.shift();
    };
    keep(pageTokens, (await users.unary(UserService.method.listUsers, { pageSize: 1 }, { timeoutMs: SETUP_TIMEOUT_MS })).nextPageToken);
    for (let i = 0; i < 3; i++) {
      const { message } = await chat.unary(
        ChatService.method.send,
        { room: "general", senderId: chatUserIds[i]!, text: `hello ${i}` },
        { timeoutMs: SETUP_TIMEOUT_MS },
      );
      chatLedger.sent(message!, "harness: first messages");
    }
    keep(
      historyTokens,
      (await chat.unary(ChatService.method.history, { room: "general", pageSize: 1 }, { timeoutMs: SETUP_TIMEOUT_MS })).nextPageToken,
    );
    const live = (): readonly string[] => userLedger.ids().filter((id) => !chatUserIds.includes(id));
    const callTranscripts = new Map<string, string>();
    const callOutcomes = new Map<string, { path: string; received: string }>();
    const callLog = logDir === undefined ? undefined : createWriteStream(join(logDir, "calls.log"), { flags: "a" });
    return {
      stack,
      users,
      chat,
      userLedger,
      chatLedger,
      oracle,
      chatUserIds,
      sources: {
        // The chat users are the harness': fuzzed updates and deletes leave them alone.
        userIds: live,
        chatUserIds: () => chatUserIds,
        emails: () => userLedger.emails(),
        etags: () => userLedger.etags(),
        pageTokens: () => pageTokens,
        historyTokens: () => historyTokens,
        resumeTokens: () => oracle.resumeTokens,
      },
      addPageToken: (kind, token) => keep(kind === "user" ? pageTokens : historyTokens, token),
      callTranscripts,
      callOutcomes,
      recordCall(callId, path, received, transcript) {
        callTranscripts.set(callId, transcript);
        callOutcomes.set(callId, { path, received });
        callLog?.write(`${callId}: ${transcript}\n`);
      },
      recentCases: new Map(),
      close: async () => {
        callLog?.end();
        await closeAll(oracle);
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

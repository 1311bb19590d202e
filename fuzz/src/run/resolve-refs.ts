import { isRef, type Ref } from "../gen/hostile-values.js";
import type { MessageTree } from "../gen/message-arbitrary.js";

/** The server-issued values Refs are resolved against (read when a case runs). */
export interface RefSources {
  /** Ids of users the fuzzer created, deleted ones included. */
  userIds(): readonly string[];
  chatUserIds(): readonly string[];
  emails(): readonly string[];
  /** [current etag, version number] of the fuzzer's live users. */
  etags(): readonly string[];
  pageTokens(): readonly string[];
  historyTokens(): readonly string[];
  /** Resume tokens seen on the change feed, oldest first. */
  resumeTokens(): readonly string[];
}

const FALLBACK_UUID = "6f0c1e2a-0000-4000-8000-000000000000";

/** The value `ref` stands for now. */
export function resolveRef(ref: Ref, sources: RefSources): string {
  const pick = <T>(list: readonly T[], fallback: T): T => (list.length === 0 ? fallback : list[ref.pick % list.length]!);
  let value: string;
  switch (ref.$ref) {
    case "userId":
      value = pick(sources.userIds(), FALLBACK_UUID);
      break;
    case "chatUserId":
      value = pick(sources.chatUserIds(), FALLBACK_UUID);
      break;
    case "email":
      value = pick(sources.emails(), "nobody@example.com");
      break;
    case "etag": {
      const current = pick(sources.etags(), "v1");
      const version = /^v(\d+)$/.exec(current);
      // Odd picks: the version before the current one (stale).
      value = ref.pick % 2 === 1 && version !== null && Number(version[1]) > 1 ? `v${Number(version[1]) - 1}` : current;
      break;
    }
    case "pageToken":
      value = pick(sources.pageTokens(), "");
      break;
    case "historyToken":
      value = pick(sources.historyTokens(), "");
      break;
    case "resumeToken":
      value = pick(sources.resumeTokens(), "0");
      break;
    case "futureResumeToken": {
      const tokens = sources.resumeTokens();
      const newest = tokens.length === 0 ? 0n : BigInt(tokens[tokens.length - 1]!);
      value = (newest + BigInt((ref.pick % 1000) + 1)).toString();
      break;
    }
  }
  return twist(value, ref);
}

function twist(value: string, ref: Ref): string {
  switch (ref.twist) {
    case "none":
      return value;
    case "upper":
      return value.toUpperCase();
    case "nul":
      return `${value}\u0000`;
    case "truncate":
      return value.slice(0, Math.max(0, value.length - 1 - (ref.pick % 4)));
    case "pad":
      return ` ${value} `;
    case "flip": {
      if (value === "") return "x";
      const at = ref.pick % value.length;
      const c = value[at]!;
      const flipped = c === c.toUpperCase() ? (c === "A" ? "B" : c === "0" ? "1" : "A") : c.toUpperCase();
      return value.slice(0, at) + flipped + value.slice(at + 1);
    }
  }
}

/** `tree` with every Ref replaced by its value. */
export function resolveTree(tree: MessageTree, sources: RefSources): MessageTree {
  const walk = (value: unknown): unknown => {
    if (isRef(value)) return resolveRef(value, sources);
    if (Array.isArray(value)) return value.length > 64 && !value.some(isRef) ? value : value.map(walk);
    if (value instanceof Uint8Array || typeof value !== "object" || value === null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
  };
  return walk(tree) as MessageTree;
}

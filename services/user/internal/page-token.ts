import { createHash } from "node:crypto";
import { badRequest, Code, RpcError } from "@trellis/kit";
import type { ListCursor } from "./user-repository.js";
import { isUuid } from "./user-rules.js";

/** What a page token remembers: where the next page starts, and for which query. */
export interface PageTokenState {
  readonly cursor: ListCursor;
  /** Fingerprint of the filter the token was issued for. */
  readonly filter: string;
}

/** A short fingerprint of the list filter, so a token cannot be replayed with another query. */
export function filterFingerprint(query: string, role: number): string {
  return createHash("sha256").update(`${query}\u0000${role}`).digest("base64url").slice(0, 12);
}

/** Encodes an opaque, URL-safe page token. */
export function encodePageToken(state: PageTokenState): string {
  const payload = JSON.stringify({ v: 1, t: state.cursor.createTime.getTime(), i: state.cursor.id, f: state.filter });
  return Buffer.from(payload, "utf8").toString("base64url");
}

/**
 * Decodes a page token issued for `filter`.
 * @throws RpcError INVALID_ARGUMENT for garbage, or a token from another query
 */
export function decodePageToken(token: string, filter: string): ListCursor {
  const invalid = (description: string): RpcError =>
    new RpcError(Code.INVALID_ARGUMENT, `page_token ${description}`, {
      details: [badRequest([{ field: "page_token", description, reason: "page_token.invalid" }])],
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid("is not a token this service issued");
  }
  const candidate = parsed as { v?: unknown; t?: unknown; i?: unknown; f?: unknown } | null;
  if (
    candidate === null ||
    typeof candidate !== "object" ||
    candidate.v !== 1 ||
    typeof candidate.t !== "number" ||
    !Number.isFinite(candidate.t) ||
    typeof candidate.i !== "string" ||
    !isUuid(candidate.i) ||
    typeof candidate.f !== "string"
  ) {
    throw invalid("is not a token this service issued");
  }
  if (candidate.f !== filter) throw invalid("was issued for a different query or role; start again without it");
  return { createTime: new Date(candidate.t), id: candidate.i };
}

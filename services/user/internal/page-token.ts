import { createHash } from "node:crypto";
import { decodePageToken as decodeToken, encodePageToken as encodeToken, invalidPageToken } from "@trellis/kit";
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
  return encodeToken({ t: state.cursor.createTime.getTime(), i: state.cursor.id, f: state.filter });
}

/**
 * Decodes a page token issued for `filter`.
 * @throws RpcError INVALID_ARGUMENT for garbage, or a token from another query
 */
export function decodePageToken(token: string, filter: string): ListCursor {
  return decodeToken(token, ({ t, i, f }) => {
    if (typeof t !== "number" || !Number.isFinite(t) || typeof i !== "string" || !isUuid(i) || typeof f !== "string") return undefined;
    if (f !== filter) throw invalidPageToken("was issued for a different query or role; start again without it");
    return { createTime: new Date(t), id: i };
  });
}

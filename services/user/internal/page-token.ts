import { createHash } from "node:crypto";
import { decodePageToken as decodeToken, encodePageToken as encodeToken, invalidPageToken } from "@trellis/kit";
import type { ListCursor } from "./user-repository.js";
import { isUuid } from "./user-rules.js";

/**
 * The create times a cursor may carry: from the epoch to the end of year 9999. Stored users are
 * created now-ish; anything outside is forged, and would otherwise reach SQL as an Invalid Date
 * or a timestamp PostgreSQL cannot hold.
 */
export const CURSOR_TIME_RANGE_MS = { min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) } as const;

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
 * Decodes a page token issued for `filter`. Every field is checked: the time is a whole
 * millisecond within {@link CURSOR_TIME_RANGE_MS}, the id a UUID.
 * @throws RpcError INVALID_ARGUMENT for garbage, a field out of range, or a token from another query
 */
export function decodePageToken(token: string, filter: string): ListCursor {
  return decodeToken(token, ({ t, i, f }) => {
    if (!Number.isSafeInteger(t) || (t as number) < CURSOR_TIME_RANGE_MS.min || (t as number) > CURSOR_TIME_RANGE_MS.max) return undefined;
    if (typeof i !== "string" || !isUuid(i) || typeof f !== "string") return undefined;
    if (f !== filter) throw invalidPageToken("was issued for a different query or role; start again without it");
    return { createTime: new Date(t as number), id: i };
  });
}

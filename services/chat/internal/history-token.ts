import { decodePageToken, encodePageToken, invalidPageToken } from "@trellis/kit";

/** The largest sequence a token may carry: `chat_messages.seq` is a PostgreSQL bigint. */
export const MAX_SEQUENCE = 2n ** 63n - 1n;

/** An opaque History page token: the room and the sequence the next page starts before. */
export function encodeHistoryToken(room: string, before: bigint): string {
  return encodePageToken({ r: room, s: before.toString() });
}

/**
 * The sequence a token points before: a decimal integer from 0 to {@link MAX_SEQUENCE} (a
 * larger one would reach SQL and fail there as "bigint out of range").
 * @throws RpcError INVALID_ARGUMENT for garbage, a sequence out of range, or a token of another room
 */
export function decodeHistoryToken(token: string, room: string): bigint {
  return decodePageToken(token, ({ r, s }) => {
    if (typeof r !== "string" || typeof s !== "string" || !/^\d{1,19}$/.test(s)) return undefined;
    const sequence = BigInt(s);
    if (sequence > MAX_SEQUENCE) return undefined;
    if (r !== room) throw invalidPageToken("belongs to another room");
    return sequence;
  });
}

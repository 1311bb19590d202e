import { decodePageToken, encodePageToken, invalidPageToken } from "@trellis/kit";

/** An opaque History page token: the room and the sequence the next page starts before. */
export function encodeHistoryToken(room: string, before: bigint): string {
  return encodePageToken({ r: room, s: before.toString() });
}

/**
 * The sequence a token points before.
 * @throws RpcError INVALID_ARGUMENT for garbage or a token of another room
 */
export function decodeHistoryToken(token: string, room: string): bigint {
  return decodePageToken(token, ({ r, s }) => {
    if (typeof r !== "string" || typeof s !== "string" || !/^\d{1,19}$/.test(s)) return undefined;
    if (r !== room) throw invalidPageToken("belongs to another room");
    return BigInt(s);
  });
}

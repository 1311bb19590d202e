import { badRequest, Code, RpcError } from "@trellis/kit";

/** An opaque History page token: the room and the sequence the next page starts before. */
export function encodeHistoryToken(room: string, before: bigint): string {
  return Buffer.from(JSON.stringify({ v: 1, r: room, s: before.toString() }), "utf8").toString("base64url");
}

/**
 * The sequence a token points before.
 * @throws RpcError INVALID_ARGUMENT for garbage or a token of another room
 */
export function decodeHistoryToken(token: string, room: string): bigint {
  const invalid = (description: string): RpcError =>
    new RpcError(Code.INVALID_ARGUMENT, `page_token ${description}`, {
      details: [badRequest([{ field: "page_token", description, reason: "page_token.invalid" }])],
    });
  let parsed: { v?: unknown; r?: unknown; s?: unknown } | null;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    throw invalid("is not a token this service issued");
  }
  if (parsed === null || typeof parsed !== "object" || parsed.v !== 1 || typeof parsed.r !== "string" || typeof parsed.s !== "string" || !/^\d{1,19}$/.test(parsed.s)) {
    throw invalid("is not a token this service issued");
  }
  if (parsed.r !== room) throw invalid("belongs to another room");
  return BigInt(parsed.s);
}

import { badRequest } from "../errors/error-details.js";
import { Code, RpcError } from "../errors/rpc-error.js";

/** A page token's payload: flat JSON values; the kit adds a format version. */
export type PageTokenPayload = Readonly<Record<string, string | number>>;

const VERSION = 1;

/**
 * Encodes an opaque, URL-safe page token (AIP-158): the payload as base64url
 * JSON with a format version. Opaque to clients, not secret: put in it only
 * what the caller could see anyway (a cursor, a fingerprint of the query).
 */
export function encodePageToken(payload: PageTokenPayload): string {
  return Buffer.from(JSON.stringify({ v: VERSION, ...payload }), "utf8").toString("base64url");
}

/**
 * Decodes a token made by {@link encodePageToken}. `read` checks the payload's
 * fields and returns what the service needs, or undefined when they are not
 * what it issues; it may throw {@link invalidPageToken} with its own reason
 * (a token of another query, say).
 * @throws RpcError INVALID_ARGUMENT with a BadRequest on `page_token` for anything this service did not issue
 */
export function decodePageToken<T>(token: string, read: (payload: Readonly<Record<string, unknown>>) => T | undefined): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidPageToken("is not a token this service issued");
  }
  const payload = parsed as Record<string, unknown> | null;
  const state = payload !== null && typeof payload === "object" && !Array.isArray(payload) && payload["v"] === VERSION ? read(payload) : undefined;
  if (state === undefined) throw invalidPageToken("is not a token this service issued");
  return state;
}

/** INVALID_ARGUMENT for a bad `page_token`, with a BadRequest naming the field. */
export function invalidPageToken(description: string): RpcError {
  return new RpcError(Code.INVALID_ARGUMENT, `page_token ${description}`, {
    details: [badRequest([{ field: "page_token", description, reason: "page_token.invalid" }])],
  });
}

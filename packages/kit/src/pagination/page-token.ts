import { badRequest } from "../errors/error-details.js";
import { Code, RpcError } from "../errors/rpc-error.js";

/**
 * A page token's payload: flat JSON values; the kit adds a format version. Numbers must be
 * safe integers (a sequence, a time in milliseconds): decoding refuses any other number, so a
 * forged 1e300 or 0.5 never reaches a service's reader.
 */
export type PageTokenPayload = Readonly<Record<string, string | number>>;

const VERSION = 1;
/** Longer tokens are refused before they are decoded; no service issues anything near it. */
const MAX_TOKEN_LENGTH = 4096;

/**
 * Encodes an opaque, URL-safe page token (AIP-158): the payload as base64url
 * JSON with a format version. Opaque to clients, not secret: put in it only
 * what the caller could see anyway (a cursor, a fingerprint of the query).
 */
export function encodePageToken(payload: PageTokenPayload): string {
  for (const [key, value] of Object.entries(payload)) {
    if (typeof value === "number" && !Number.isSafeInteger(value))
      throw new RangeError(`page token field ${key} must be a safe integer (got ${value})`);
  }
  return Buffer.from(JSON.stringify({ v: VERSION, ...payload }), "utf8").toString("base64url");
}

/**
 * Decodes a token made by {@link encodePageToken}. `read` checks the payload's
 * fields and returns what the service needs, or undefined when they are not
 * what it issues; it may throw {@link invalidPageToken} with its own reason
 * (a token of another query, say). Tokens come from clients, so `read` must
 * range-check every field it uses (a time within the dates it stores, a
 * sequence within its column's type); anything else it throws is taken as a
 * forged token too rather than becoming INTERNAL.
 * @throws RpcError INVALID_ARGUMENT with a BadRequest on `page_token` for anything this service did not issue
 */
export function decodePageToken<T>(token: string, read: (payload: Readonly<Record<string, unknown>>) => T | undefined): T {
  if (token.length > MAX_TOKEN_LENGTH) throw invalidPageToken("is not a token this service issued");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidPageToken("is not a token this service issued");
  }
  const payload = parsed as Record<string, unknown> | null;
  if (payload === null || typeof payload !== "object" || Array.isArray(payload) || payload["v"] !== VERSION || !flatAndSafe(payload)) {
    throw invalidPageToken("is not a token this service issued");
  }
  let state: T | undefined;
  try {
    state = read(payload);
  } catch (error) {
    if (error instanceof RpcError) throw error;
    throw invalidPageToken("is not a token this service issued");
  }
  if (state === undefined) throw invalidPageToken("is not a token this service issued");
  return state;
}

/** Every value is a string or a safe integer, as {@link encodePageToken} writes them. */
function flatAndSafe(payload: Readonly<Record<string, unknown>>): boolean {
  for (const key in payload) {
    const value = payload[key];
    if (typeof value !== "string" && !Number.isSafeInteger(value)) return false;
  }
  return true;
}

/** INVALID_ARGUMENT for a bad `page_token`, with a BadRequest naming the field. */
export function invalidPageToken(description: string): RpcError {
  return new RpcError(Code.INVALID_ARGUMENT, `page_token ${description}`, {
    details: [badRequest([{ field: "page_token", description, reason: "page_token.invalid" }])],
  });
}

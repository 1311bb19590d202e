/**
 * gRPC's length-prefixed messages (one flag byte, a 4-byte big-endian length,
 * the body), written exactly or deliberately wrong, and read back from a
 * response body.
 */

/** How to (mis)frame one message. */
export interface FrameOptions {
  /** The flag byte: 0 plain, 1 compressed, anything else is invalid. */
  readonly flag?: number;
  /** The length written in the prefix (default: the body's real length). */
  readonly declaredLength?: number;
}

/** One length-prefixed message. */
export function lengthPrefixed(body: Uint8Array, options: FrameOptions = {}): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = (options.flag ?? 0) & 0xff;
  prefix.writeUInt32BE((options.declaredLength ?? body.length) >>> 0, 1);
  return Buffer.concat([prefix, body]);
}

/** What a body held: whole messages (flag byte and body), and how many bytes were left over. */
export interface ParsedMessages {
  readonly messages: readonly { readonly flag: number; readonly body: Buffer }[];
  /** Bytes after the last whole message. */
  readonly trailing: number;
}

/** Splits a stream of length-prefixed messages into its messages. */
export function parseMessages(bytes: Buffer): ParsedMessages {
  const messages: { flag: number; body: Buffer }[] = [];
  let offset = 0;
  while (bytes.length - offset >= 5) {
    const length = bytes.readUInt32BE(offset + 1);
    if (bytes.length - offset - 5 < length) break;
    messages.push({ flag: bytes[offset]!, body: bytes.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return { messages, trailing: bytes.length - offset };
}

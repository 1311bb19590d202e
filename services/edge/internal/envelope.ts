/**
 * The length-prefixed message framing gRPC, gRPC-Web and Connect streaming
 * share: one flags byte, a 4-byte big-endian length, the payload.
 */

/** Flag bit 0: the payload is compressed. */
export const FLAG_COMPRESSED = 0x01;
/** gRPC-Web: a trailers frame (bit 7). */
export const FLAG_GRPC_WEB_TRAILERS = 0x80;
/** Connect streaming: the end-of-stream message (bit 1). */
export const FLAG_CONNECT_END = 0x02;

/** One frame as read. */
export interface Envelope {
  readonly flags: number;
  readonly data: Uint8Array;
}

/** A frame's bytes: header and payload in one buffer (one write, no copy of the payload on the socket). */
export function encodeEnvelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, 5);
  return out;
}

/** What a bad body is, for the caller's message. */
export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";
  constructor(
    message: string,
    /** true: over the size limit (RESOURCE_EXHAUSTED); false: malformed (INVALID_ARGUMENT / INTERNAL per protocol). */
    readonly tooLarge: boolean,
  ) {
    super(message);
  }
}

/**
 * Splits a whole request body into frames. A body that ends inside a frame, or
 * a frame that claims more than `maxMessageBytes`, is an EnvelopeError.
 */
export function parseEnvelopes(body: Uint8Array, maxMessageBytes: number): Envelope[] {
  const frames: Envelope[] = [];
  let at = 0;
  while (at < body.byteLength) {
    if (body.byteLength - at < 5)
      throw new EnvelopeError(`truncated frame: ${body.byteLength - at} byte(s) where a 5-byte frame header was expected`, false);
    const flags = body[at]!;
    const length = ((body[at + 1]! << 24) >>> 0) + (body[at + 2]! << 16) + (body[at + 3]! << 8) + body[at + 4]!;
    if (length > maxMessageBytes)
      throw new EnvelopeError(`message of ${length} bytes is larger than the limit of ${maxMessageBytes}`, true);
    if (body.byteLength - at - 5 < length) {
      throw new EnvelopeError(`truncated frame: the header announces ${length} bytes, the body holds ${body.byteLength - at - 5}`, false);
    }
    frames.push({ flags, data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return frames;
}

/**
 * grpc-web-text bodies: base64 of the binary frames. A client may encode each
 * frame on its own, so padding can occur inside the body ("AAAA==AAAA"): every
 * 4-character group is decoded on its own, which is what the protocol allows.
 */

const BASE64_CHAR = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a grpc-web-text request body; throws with a message naming what is wrong. */
export function decodeGrpcWebText(text: string): Buffer {
  const compact = text.replace(/[\r\n\t ]/g, "");
  if (compact.length % 4 !== 0) throw new Error(`malformed base64: ${compact.length} characters is not a multiple of 4`);
  // Fast path: padding only at the end (one segment).
  const firstPad = compact.indexOf("=");
  if (firstPad === -1 || firstPad >= compact.length - 2) {
    if (!BASE64_CHAR.test(compact)) throw new Error("malformed base64: a character outside the base64 alphabet");
    return Buffer.from(compact, "base64");
  }
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = 0; at < compact.length; at += 4) {
    const group = compact.slice(at, at + 4);
    if (group.includes("=")) {
      const segment = compact.slice(start, at + 4);
      if (!BASE64_CHAR.test(segment))
        throw new Error("malformed base64: a character outside the base64 alphabet or padding inside a group");
      parts.push(Buffer.from(segment, "base64"));
      start = at + 4;
    }
  }
  const rest = compact.slice(start);
  if (!BASE64_CHAR.test(rest)) throw new Error("malformed base64: a character outside the base64 alphabet");
  parts.push(Buffer.from(rest, "base64"));
  return Buffer.concat(parts);
}

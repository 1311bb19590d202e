/**
 * The bytes as a Buffer without copying (grpc-js wants Buffers; the codec
 * returns Buffer views on Node already, so this is usually a no-op).
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

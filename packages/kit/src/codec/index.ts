/**
 * Binary codecs for protobuf-es messages, compiled once per message type into
 * straight-line JavaScript: the same bytes and messages as `toBinary`/`fromBinary`
 * without their per-field reflection.
 */
export { compileCodec, createCodecCache } from "./compile-codec.js";
export type { Codec, CodecCache, CodecCacheEntry } from "./compile-codec.js";
export { asBuffer } from "./as-buffer.js";

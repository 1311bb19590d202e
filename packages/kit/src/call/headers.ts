import { Metadata, type MetadataValue } from "@grpc/grpc-js";

/**
 * gRPC metadata as Web-standard `Headers` (connect-es' choice): request
 * headers, response headers and trailers all have this one shape. Binary
 * metadata (keys ending in `-bin`) holds base64 text, as on the wire; use
 * {@link encodeBinaryHeader} and {@link decodeBinaryHeader} for its bytes.
 */

/** Base64 of `bytes`, for a `-bin` header value. */
export function encodeBinaryHeader(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** The bytes of a `-bin` header value (padded or unpadded base64). */
export function decodeBinaryHeader(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "base64"));
}

/**
 * grpc-js metadata → Headers. Entries `Headers` cannot hold (a value with a
 * character outside Latin-1, which HTTP/2 cannot carry anyway) are left out.
 */
export function headersFromMetadata(metadata: Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values as MetadataValue[]) {
      try {
        headers.append(key, typeof value === "string" ? value : encodeBinaryHeader(value));
      } catch {
        // Not representable as a header value: dropped rather than failing the call.
      }
    }
  }
  return headers;
}

/**
 * A call context's own way to read one request header without building
 * `requestHeader` (a Headers of all the metadata, ~2 µs a call), for the
 * interceptors that read one header on every call (the tracing
 * interceptor's `traceparent`).
 */
export const READ_REQUEST_HEADER = Symbol("trellis.readRequestHeader");

/** One request header of a call: what `context.requestHeader.get(name)` returns, cheaply where the context allows. */
export function readRequestHeader(context: { readonly requestHeader: Headers }, name: string): string | undefined {
  const read = (context as { [READ_REQUEST_HEADER]?: (name: string) => string | undefined })[READ_REQUEST_HEADER];
  return read === undefined ? (context.requestHeader.get(name) ?? undefined) : read.call(context, name);
}

/** One header of grpc-js metadata as `Headers.get` would return it (repeated values joined by ", ", binary as base64). */
export function metadataHeader(metadata: Metadata, name: string): string | undefined {
  const values = metadata.get(name);
  if (values.length === 0) return undefined;
  const text = (value: MetadataValue): string => (typeof value === "string" ? value : encodeBinaryHeader(value));
  return values.length === 1 ? text(values[0]!) : values.map(text).join(", ");
}

/** Headers → grpc-js metadata (`-bin` values decoded from base64), added to `into` when given. */
export function metadataFromHeaders(headers: Headers, into: Metadata = new Metadata()): Metadata {
  headers.forEach((value, key) => {
    if (key.endsWith("-bin")) {
      // Headers joins repeated values with ", ": each part is one base64 value.
      for (const part of value.split(",")) into.add(key, Buffer.from(part.trim(), "base64"));
    } else {
      into.add(key, value);
    }
  });
  return into;
}

/** What `new Headers(init)` takes: a Headers, a record, or name/value pairs. */
export type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;

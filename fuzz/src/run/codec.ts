import { gunzipSync, inflateSync } from "node:zlib";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { MessageTree } from "../gen/message-arbitrary.js";
import { applyMutations, type Mutation } from "../gen/wire-mutations.js";
import { resolveTree, type RefSources } from "./resolve-refs.js";

/** A request as sent: its resolved values (before any damage) and its bytes. */
export interface EncodedRequest {
  readonly values: MessageTree;
  readonly bytes: Buffer;
}

/** Resolves the Refs in `tree`, encodes it with protobuf-es and applies `mutations`. */
export function encodeRequest(schema: DescMessage, tree: MessageTree, mutations: readonly Mutation[], sources: RefSources): EncodedRequest {
  const values = resolveTree(tree, sources);
  const bytes = Buffer.from(toBinary(schema, create(schema, values as never)));
  return { values, bytes: mutations.length === 0 ? bytes : applyMutations(bytes, mutations) };
}

/** `bytes` decoded with protobuf-es, or undefined when it cannot (the server's own codec is stricter, never laxer). */
export function tryDecode<S extends DescMessage>(schema: S, bytes: Uint8Array): MessageShape<S> | undefined {
  try {
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch {
    return undefined;
  }
}

/**
 * A message body as the server reads it: flag 1 on a gzip or deflate call is
 * decompressed (undefined when that fails, or for another encoding); any other flag is read
 * as plain, as grpc-js does (README, "Limits and protections").
 */
export function messageBody(body: Buffer, flag: number, encoding: string | null): Buffer | undefined {
  if (flag !== 1 || encoding === null || encoding === "identity") return body;
  if (encoding !== "gzip" && encoding !== "deflate") return undefined;
  try {
    return encoding === "gzip" ? gunzipSync(body) : inflateSync(body);
  } catch {
    return undefined;
  }
}

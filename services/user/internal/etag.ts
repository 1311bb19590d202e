import { Code, RpcError, badRequest } from "@trellis/kit";

/** The etag the API shows for a stored version (opaque to clients). */
export function etagOf(version: number): string {
  return `v${version}`;
}

/**
 * The version an etag stands for; undefined for an empty etag (no concurrency check).
 * @throws RpcError INVALID_ARGUMENT for a value this service never issued
 */
export function versionOf(etag: string, field: string): number | undefined {
  if (etag === "") return undefined;
  const match = /^v(\d{1,15})$/.exec(etag);
  if (match === null) {
    throw new RpcError(Code.INVALID_ARGUMENT, `${field} "${etag.slice(0, 64)}" is not an etag this service issued`, {
      details: [badRequest([{ field, description: "not an etag this service issued", reason: "etag.malformed" }])],
    });
  }
  return Number(match[1]);
}

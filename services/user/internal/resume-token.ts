import { Code, RpcError, badRequest } from "@trellis/kit";

/** The largest change-log position: `user_changes.seq` is a PostgreSQL bigint. */
export const MAX_SEQUENCE = 2n ** 63n - 1n;

/** The resume token of a change-log position: its decimal sequence. */
export function resumeTokenOf(sequence: bigint): string {
  return sequence.toString();
}

/**
 * The change-log position a WatchUsers resume token stands for. Whether the log has reached
 * it yet is the change feed's to check (OUT_OF_RANGE); this only refuses what no log can hold.
 * @throws RpcError INVALID_ARGUMENT unless a decimal integer from 0 to {@link MAX_SEQUENCE}
 */
export function parseResumeToken(token: string): bigint {
  const sequence = /^\d{1,19}$/.test(token) ? BigInt(token) : undefined;
  if (sequence === undefined || sequence > MAX_SEQUENCE) {
    throw new RpcError(Code.INVALID_ARGUMENT, "resume_token is not a token this service issued", {
      details: [badRequest([{ field: "resume_token", description: "not a token this service issued", reason: "resume_token.invalid" }])],
    });
  }
  return sequence;
}

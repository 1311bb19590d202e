import { connectRawHttp2, FrameFlag, FrameType, type RawHttp2Connection } from "@trellis/kit/testing";
import type { FramesCase } from "../gen/fuzz-case.js";
import type { FrameSpec } from "../gen/frames-arbitrary.js";
import { show, type Violation } from "../oracle/violation.js";
import { SERVER_CONNECTION_BOUND_MS } from "../harness/fuzz-stack.js";
import { GRACE_MS, processesAlive, type CaseResult } from "./case-result.js";
import type { Lane } from "./lane.js";

const PING_PAYLOAD = Buffer.from("fuzzping", "latin1");
/** How long the server may take to react to a PING or to close a connection (its keepalive bound, plus the suite's grace). */
const REACTION_MS = SERVER_CONNECTION_BOUND_MS + GRACE_MS;

/** The bytes of one frame; the length field is the payload's plus `lengthDelta`, modulo 2^24. */
export function encodeFrame(frame: FrameSpec): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE((((frame.payload.length + frame.lengthDelta) % 2 ** 24) + 2 ** 24) % 2 ** 24, 0, 3);
  header[3] = frame.type & 0xff;
  header[4] = frame.flags & 0xff;
  header.writeUInt32BE(frame.streamId >>> 0, 5);
  return Buffer.concat([header, frame.payload]);
}

/** Resolves with `promise`'s value, or "timeout" after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Family (d): a valid preface, then random frames on a connection of their
 * own. Properties: while the byte stream is in sync (every length field
 * true) the connection answers a PING, or says GOAWAY, or closes; after a
 * GOAWAY for an error the server closes the connection (RFC 9113 §5.4.1);
 * once the client closes its side, the server closes too (no socket left in
 * CLOSE-WAIT); and the process keeps running.
 */
export async function runFramesCase(c: FramesCase, lane: Lane): Promise<CaseResult> {
  const { world } = lane;
  const target = c.service === "user" ? world.stack.user : world.stack.chat;
  const violations: Violation[] = [];
  const notes: string[] = [];
  let connection: RawHttp2Connection | undefined;
  try {
    const connected = await within(
      connectRawHttp2(target.port).catch((error: Error) => error),
      REACTION_MS,
    );
    if (connected === "timeout" || connected instanceof Error) {
      violations.push({
        property: "the server accepts connections",
        detail: connected === "timeout" ? "no TCP connection within the watchdog" : connected.message,
      });
      return { violations: [...violations, ...processesAlive(world)], transcript: transcriptOf(c, notes) };
    }
    connection = connected;
    connection.preface();
    for (const frame of c.frames) connection.write(encodeFrame(frame));
    connection.frame(FrameType.PING, 0, 0, PING_PAYLOAD);
    const inSync = c.frames.every((f) => f.lengthDelta === 0);
    const reaction = await within(
      connection
        .waitForFrame(
          (f) =>
            (f.type === FrameType.PING && (f.flags & FrameFlag.ACK) !== 0 && f.payload.equals(PING_PAYLOAD)) || f.type === FrameType.GOAWAY,
        )
        .then((f) => (f.type === FrameType.GOAWAY ? "goaway" : "ping-ack"))
        .catch(() => "closed"),
      REACTION_MS,
    );
    notes.push(`after the frames and a PING: ${reaction}`);
    if (reaction === "timeout" && inSync) {
      violations.push({
        property: "no hang",
        detail: `the connection neither answered a PING, nor sent GOAWAY, nor closed within ${REACTION_MS} ms`,
      });
    }
    const goaway = connection.frames.find((f) => f.type === FrameType.GOAWAY);
    const goawayCode = goaway !== undefined && goaway.payload.length >= 8 ? goaway.payload.readUInt32BE(4) : undefined;
    if (goawayCode !== undefined) notes.push(`GOAWAY code ${goawayCode}`);
    if (goawayCode !== undefined && goawayCode !== 0) {
      const closed = await within(connection.closed, REACTION_MS);
      if (closed === "timeout") {
        violations.push({
          property: "the connection is closed after GOAWAY",
          detail: `GOAWAY with error ${goawayCode}, but the socket was still open ${REACTION_MS} ms later`,
        });
      }
    }
    connection.end();
    const closed = await within(connection.closed, REACTION_MS);
    if (closed === "timeout") {
      violations.push({
        property: "no socket left open",
        detail: `the client closed its side (FIN), but the server had not closed the connection ${REACTION_MS} ms later`,
      });
    }
  } finally {
    connection?.destroy();
  }
  violations.push(...processesAlive(world));
  return { violations, transcript: transcriptOf(c, notes) };
}

function transcriptOf(c: FramesCase, notes: readonly string[]): string {
  return [
    `${c.frames.length} raw frame(s) to ${c.service} after the preface:`,
    ...c.frames
      .slice(0, 20)
      .map(
        (f) =>
          `  type ${f.type} flags 0x${f.flags.toString(16)} stream ${f.streamId} length ${f.payload.length}${f.lengthDelta === 0 ? "" : `${f.lengthDelta > 0 ? "+" : ""}${f.lengthDelta}`} ${show(f.payload)}`,
      ),
    ...(c.frames.length > 20 ? [`  … ${c.frames.length - 20} more like the last`] : []),
    ...notes.map((n) => `  ${n}`),
  ].join("\n");
}

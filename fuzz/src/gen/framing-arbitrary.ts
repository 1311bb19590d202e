import fc from "fast-check";

/**
 * Random gRPC framing and request headers, for family (c): the messages of a
 * call framed right or wrong (length prefix against body, the compressed
 * flag, zero or several messages, how the bytes are cut into DATA frames,
 * whether the stream is half-closed), under random gRPC and custom headers.
 * Header values stay within what node:http2 will send (no CR, LF or NUL):
 * what it refuses, family (d) sends as raw HPACK.
 */

/** One length-prefixed message of the call. */
export interface GrpcMessagePlan {
  /** Index of the request body to frame (modulo the call's bodies); -1 for an empty body. */
  readonly body: number;
  /** The flag byte: 0 plain, 1 compressed, anything else invalid. */
  readonly flag: number;
  /** Added to the true body length in the prefix (may make it negative or huge: the prefix is written modulo 2^32). */
  readonly lengthDelta: number;
  /** With flag 1: whether the body really is gzip-compressed. */
  readonly gzip: boolean;
}

/** How the call's bytes go out. */
export interface FramingPlan {
  readonly messages: readonly GrpcMessagePlan[];
  /** whole: one DATA; per-message; bytes: one DATA per byte (capped); split: two DATA at `splitAt`. */
  readonly chunking: "whole" | "per-message" | "bytes" | "split";
  readonly splitAt: number;
  /** Bytes after the last message (a partial prefix, say). */
  readonly trailing: Uint8Array;
  /** Whether the client half-closes. */
  readonly endStream: boolean;
}

/** The request's headers; null leaves a header out. */
export interface HeaderPlan {
  readonly timeout: string | null;
  readonly encoding: string | null;
  readonly acceptEncoding: string | null;
  readonly contentType: string | null;
  readonly te: string | null;
  readonly httpMethod: string;
  /** Another :path than the method's (unknown methods, odd spellings). */
  readonly pathOverride: string | null;
  readonly metadata: readonly (readonly [string, string | readonly string[]])[];
}

/** grpc-timeout values: short valid ones (so nothing waits long), long valid ones, and malformed ones. */
export const SHORT_TIMEOUTS = ["0n", "1n", "0m", "20m", "100m", "250m", "250000u", "200000000n"] as const;
const LONG_TIMEOUTS = ["10S", "1M", "99999999H", "99999999S"] as const;
const MALFORMED_TIMEOUTS = ["", "abc", "-1S", "1", "S", "123456789S", "1.5S", "1s", " 1S", "1S ", "1x", "0x10S", "١S", "1H1M", "+5S", "99999999999999999999S"] as const;

const token = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/);
const latin1 = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c)), maxLength: 40 });
const headerValue = fc.oneof(
  { arbitrary: latin1, weight: 6 },
  { arbitrary: fc.constantFrom("", " ", "\t", "%00", "%zz", "\u00ff\u00fe", "\u0080"), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom("a", "\u00e9", "%"), fc.constantFrom(1024, 8192, 16_384, 65_536)).map(([c, n]) => c.repeat(n)), weight: 1 },
);
const binValue = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("base64")),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("base64").replace(/=+$/, "")),
  fc.constantFrom("!!!", "====", "a", "ab=c", "\u00ff", ""),
  fc.constantFrom(4096, 65_536).map((n) => Buffer.alloc(n, 0xab).toString("base64")),
);
const metadataEntry: fc.Arbitrary<readonly [string, string | readonly string[]]> = fc.oneof(
  { arbitrary: fc.tuple(token, headerValue), weight: 4 },
  { arbitrary: fc.tuple(token.map((name) => `${name}-bin`), binValue), weight: 3 },
  {
    arbitrary: fc.tuple(
      fc.constantFrom("x-request-id", "authorization", "user-agent", "grpc-trace-bin", "grpc-tags-bin", "grpc-previous-rpc-attempts", "grpc-retry-pushback-ms", "grpc-status", "grpc-message", "grpc-status-details-bin", "content-length", "x-forwarded-for", "traceparent"),
      fc.oneof(headerValue, binValue, fc.constantFrom("0", "-1", "999999", "1e3")),
    ),
    weight: 3,
  },
  { arbitrary: fc.tuple(fc.constantFrom("x-dup", "x-request-id", "grpc-accept-encoding"), fc.array(latin1, { minLength: 2, maxLength: 4 })), weight: 1 },
);

/** A framing plan for a call whose request bodies are numbered 0..n-1. */
export function framingPlanArbitrary(): fc.Arbitrary<FramingPlan> {
  const message = fc.record({
    body: fc.oneof({ arbitrary: fc.nat({ max: 3 }), weight: 9 }, { arbitrary: fc.constant(-1), weight: 1 }),
    flag: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constant(1), weight: 3 }, { arbitrary: fc.integer({ min: 2, max: 255 }), weight: 1 }),
    lengthDelta: fc.oneof(
      { arbitrary: fc.constant(0), weight: 6 },
      { arbitrary: fc.integer({ min: -20, max: 20 }), weight: 2 },
      { arbitrary: fc.constantFrom(-(2 ** 31), 2 ** 31, 2 ** 32 - 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1), weight: 1 },
    ),
    gzip: fc.boolean(),
  });
  return fc.record({
    messages: fc.oneof(
      { arbitrary: fc.array(message, { minLength: 1, maxLength: 1 }), weight: 6 },
      { arbitrary: fc.constant([]), weight: 1 },
      { arbitrary: fc.array(message, { minLength: 2, maxLength: 3 }), weight: 2 },
    ),
    chunking: fc.constantFrom("whole", "whole", "per-message", "bytes", "split"),
    splitAt: fc.nat(),
    trailing: fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 8 }, { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }), weight: 1 }),
    endStream: fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }),
  });
}

/** Request headers, valid or not; `streaming` responses get only short or malformed deadlines so that nothing legitimately runs for long. */
export function headerPlanArbitrary(streaming: boolean): fc.Arbitrary<HeaderPlan> {
  const timeouts = streaming
    ? fc.oneof({ arbitrary: fc.constantFrom(...SHORT_TIMEOUTS), weight: 6 }, { arbitrary: fc.constantFrom(...MALFORMED_TIMEOUTS), weight: 2 })
    : fc.oneof(
        { arbitrary: fc.constant(null), weight: 3 },
        { arbitrary: fc.constantFrom(...SHORT_TIMEOUTS, ...LONG_TIMEOUTS), weight: 4 },
        { arbitrary: fc.constantFrom(...MALFORMED_TIMEOUTS), weight: 2 },
      );
  const sometimes = <T>(usual: T, others: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ arbitrary: fc.constant(usual), weight: 5 }, { arbitrary: others, weight: 1 });
  return fc.record({
    timeout: timeouts,
    encoding: sometimes<string | null>(null, fc.constantFrom("identity", "gzip", "deflate", "br", "snappy", "garbage", "gzip, deflate", "", "GZIP")),
    acceptEncoding: sometimes<string | null>(null, fc.constantFrom("identity", "gzip", "identity,deflate,gzip", "garbage,,,", "")),
    contentType: sometimes<string | null>("application/grpc", fc.constantFrom(null, "application/grpc+proto", "application/grpc+json", "application/grpc;charset=utf-8", "application/grpc-web", "application/json", "text/plain", "", "APPLICATION/GRPC", "application/grpcx")),
    te: sometimes<string | null>("trailers", fc.constant(null)),
    httpMethod: sometimes("POST", fc.constantFrom("GET", "PUT", "OPTIONS", "DELETE", "post", "PATCH")),
    pathOverride: sometimes<string | null>(
      null,
      fc.constantFrom(
        "/",
        "/trellis.user.v1.UserService/Nope",
        "/trellis.user.v1.UserService/getUser",
        "/trellis.user.v1.UserService",
        "/trellis.user.v1.UserService/",
        "/trellis.chat.v1.ChatService/Send/",
        "//GetUser",
        "/x.Y/Z",
        "/trellis.user.v1.UserService/GetUser?x=1",
        "/trellis.user.v1.UserService/GetUser#f",
        "/TRELLIS.USER.V1.USERSERVICE/GETUSER",
        "/trellis.user.v1.UserService/GetUser/../CreateUser",
        "/%74rellis.user.v1.UserService/GetUser",
        `/${"a".repeat(10_000)}/B`,
        "*",
        "/grpc.health.v1.Health/Check",
      ),
    ),
    metadata: fc.oneof(
      { arbitrary: fc.array(metadataEntry, { maxLength: 4 }), weight: 8 },
      { arbitrary: fc.array(metadataEntry, { minLength: 50, maxLength: 300 }), weight: 1 },
    ),
  });
}

/** The milliseconds a well-formed grpc-timeout value stands for, or undefined when it is not one. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const n = Number(match[1]);
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[match[2] as "H" | "M" | "S" | "m" | "u" | "n"];
  return n * unit;
}

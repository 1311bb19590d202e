import fc from "fast-check";

/**
 * Hostile values for fields of a valid-shaped message: the edges a validator
 * and a database see least often. Everything here is deterministic in the
 * fast-check seed; values that depend on the servers' state (an existing id, a
 * real token) are symbolic references, resolved when the case runs.
 */

/** Which server-issued value a {@link Ref} stands for. */
export type RefKind =
  /** An id of a user the fuzzer created (and that may since have been deleted). */
  | "userId"
  /** An id of one of the harness' chat users (they exist for the whole run). */
  | "chatUserId"
  /** The email of a user the fuzzer created. */
  | "email"
  /** A user's current etag, or (odd picks) a stale one. */
  | "etag"
  /** A next_page_token from a real ListUsers answer. */
  | "pageToken"
  /** A next_page_token from a real History answer. */
  | "historyToken"
  /** A resume token the change feed really issued. */
  | "resumeToken"
  /** The newest resume token plus `pick` + 1: from the future. */
  | "futureResumeToken";

/** How a referenced value is bent before it is sent. */
export type RefTwist = "none" | "upper" | "nul" | "truncate" | "flip" | "pad";

/** A value to be looked up when the case runs: the `pick`-th (modulo) of its kind, then twisted. */
export interface Ref {
  readonly $ref: RefKind;
  readonly pick: number;
  readonly twist: RefTwist;
}

/** Whether `value` is a {@link Ref}. */
export function isRef(value: unknown): value is Ref {
  return typeof value === "object" && value !== null && "$ref" in value;
}

/** A reference to the `kind` of value, twisted now and then. */
export function ref(kind: RefKind, twists: readonly RefTwist[] = ["none"]): fc.Arbitrary<Ref> {
  return fc.record({ $ref: fc.constant(kind), pick: fc.nat({ max: 1_000_000 }), twist: fc.constantFrom(...twists) });
}

const HUGE_SIZES = [255, 256, 1025, 4096, 65_536, 1_000_000] as const;

/** Strings no one types: empty, blank, NUL, control and format characters, odd Unicode, markup, SQL, huge. */
export function hostileString(options: { readonly valid?: fc.Arbitrary<string>; readonly maxLen?: number } = {}): fc.Arbitrary<string> {
  const valid = options.valid ?? fc.string({ maxLength: 12 });
  const edge = options.maxLen === undefined ? [] : [options.maxLen, options.maxLen + 1];
  return fc.oneof(
    { arbitrary: valid, weight: 6 },
    { arbitrary: fc.constantFrom("", " ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\ufeff"), weight: 2 },
    { arbitrary: fc.tuple(valid, fc.constantFrom("\u0000", "\u0000\u0000", "\u0001", "\u001b[31m", "\u007f", "\ud800", "\udfff", "\ufffe", "\uffff")).map(([v, c]) => v + c), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom("\u0000", "\u0008", "\u2028", "\u202e", "\u0301", "\ud83d\ude00"), valid).map(([c, v]) => c + v), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        "'; DROP TABLE users; --",
        "' OR '1'='1",
        "%",
        "_",
        "%_%",
        "\\",
        "\\\\%",
        "${jndi:ldap://x}",
        "{{7*7}}",
        "<script>alert(1)</script>",
        "../../../etc/passwd",
        "null",
        "undefined",
        "NaN",
        "-0",
        "1e309",
        "\u0130\u0131", // İı: case mapping changes length
        "\u1e9e", // ẞ
        "\ufb03", // ﬃ: upper-cases to three letters
        "Ǆǅǆ",
        "\u0000",
        "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67",
      ),
      weight: 2,
    },
    { arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }), weight: 2 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 2 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom("a", "é", "\ud83d\ude00", "\u0000", " ", "%"), fc.constantFrom<number>(...edge, ...HUGE_SIZES))
        .map(([unit, n]) => unit.repeat(n)),
      weight: 1,
    },
  );
}

/** int32 values at and past the edges. */
export function hostileInt32(valid: fc.Arbitrary<number> = fc.integer({ min: 0, max: 100 })): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: valid, weight: 4 },
    { arbitrary: fc.constantFrom(0, 1, -1, 2, 999, 1000, 1001, 500, 501, 2_147_483_647, -2_147_483_648, -2_147_483_647, 65_535, 65_536), weight: 3 },
    { arbitrary: fc.integer(), weight: 1 },
  );
}

/** 64-bit values at and past the edges (for int64/uint64 fields such as Timestamp.seconds). */
export function hostileInt64(): fc.Arbitrary<bigint> {
  return fc.oneof(
    fc.constantFrom(0n, 1n, -1n, 253402300799n, 253402300800n, -62135596800n, -62135596801n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  );
}

/** Enum numbers: the defined ones, zero, and values no .proto defines. */
export function hostileEnum(defined: readonly number[]): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...defined), weight: 5 },
    { arbitrary: fc.constantFrom(-1, 4, 5, 99, 2_147_483_647, -2_147_483_648), weight: 2 },
    { arbitrary: fc.integer(), weight: 1 },
  );
}

/** A repeated field's items: usually a few, now and then very many. */
export function hostileList<T>(item: fc.Arbitrary<T>, huge: fc.Arbitrary<T> = item): fc.Arbitrary<T[]> {
  return fc.oneof(
    { arbitrary: fc.array(item, { maxLength: 6 }), weight: 12 },
    {
      arbitrary: fc.tuple(huge, fc.constantFrom(50, 101, 1001, 10_000, 200_000)).map(([value, n]) => new Array<T>(n).fill(value)),
      weight: 1,
    },
  );
}

/** Something that looks like an email: fresh, odd but valid, or wrong. */
export function emailLike(): fc.Arbitrary<string | Ref> {
  return fc.oneof(
    { arbitrary: fc.tuple(fc.stringMatching(/^[a-z0-9]{4,12}$/), fc.constantFrom("example.com", "fuzz.test", "EXAMPLE.org")).map(([l, d]) => `${l}@${d}`), weight: 8 },
    { arbitrary: fc.emailAddress(), weight: 2 },
    { arbitrary: ref("email", ["none", "upper", "pad", "nul"]), weight: 3 },
    { arbitrary: hostileString({ maxLen: 254 }), weight: 3 },
    { arbitrary: fc.constantFrom("a@b", "@example.com", "a@", "a@@b.c", "a b@c.d", "ä@ö.de", "a@b.c\u0000", "a@[127.0.0.1]", `${"x".repeat(250)}@b.co`), weight: 2 },
  );
}

/** Something that looks like a UUID, or an existing id. */
export function uuidLike(existing: readonly RefKind[]): fc.Arbitrary<string | Ref> {
  return fc.oneof(
    ...existing.map((kind) => ({ arbitrary: ref(kind, ["none", "none", "none", "upper", "nul", "truncate", "flip"]), weight: 6 })),
    { arbitrary: fc.uuid(), weight: 3 },
    { arbitrary: fc.constantFrom("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "{00000000-0000-0000-0000-000000000000}", "not-a-uuid", ""), weight: 2 },
    { arbitrary: hostileString(), weight: 1 },
  );
}

/** A room name: from a small shared pool (so streams meet), random valid, or invalid. */
export function roomLike(): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom("general", "random", "fuzz", "a", "0", "r.1", "r_2", "r-3"), weight: 8 },
    { arbitrary: fc.stringMatching(/^[a-y0-9][a-z0-9._-]{0,63}$/), weight: 3 },
    { arbitrary: fc.constantFrom("General", "", " general", "a b", "a/b", "-a", ".a", "é", "a".repeat(64), "a".repeat(65), "a\u0000"), weight: 2 },
    { arbitrary: hostileString(), weight: 1 },
  );
}

/** A page token: a real one (maybe bent), a forged payload, or garbage. */
export function pageTokenLike(real: RefKind, forged: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string | Ref> {
  return fc.oneof(
    { arbitrary: fc.constant(""), weight: 3 },
    { arbitrary: ref(real, ["none", "none", "flip", "truncate", "pad", "upper"]), weight: 4 },
    { arbitrary: forged.map((payload) => Buffer.from(JSON.stringify(payload), "utf8").toString("base64url")), weight: 4 },
    { arbitrary: fc.base64String({ maxLength: 80 }), weight: 1 },
    { arbitrary: hostileString({ maxLen: 1024 }), weight: 1 },
  );
}

/** JSON values a forged token might carry in a field. */
export function hostileJsonValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(0, -1, 1e300, -1e300, 1.5, 2 ** 53, 2 ** 64, 8.64e15, 8.64e15 + 1, "", "0", "-1", "99999999999999999999", "18446744073709551616", null, true, [], {}),
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.uuid(),
  );
}

/** A resume token: real, from the future, or not a number the feed issues. */
export function resumeTokenLike(): fc.Arbitrary<string | Ref> {
  return fc.oneof(
    { arbitrary: fc.constant(""), weight: 4 },
    { arbitrary: ref("resumeToken", ["none", "none", "pad", "nul", "truncate"]), weight: 3 },
    { arbitrary: ref("futureResumeToken"), weight: 2 },
    {
      arbitrary: fc.constantFrom("0", "-1", "1.5", "1e3", "0x10", " 1", "+1", "00001", "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999999999999999", "٣"),
      weight: 3,
    },
    { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String), weight: 1 },
    { arbitrary: hostileString({ maxLen: 64 }), weight: 1 },
  );
}

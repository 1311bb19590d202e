// The one dataset every benchmark peer serves (the Go peer reimplements these
// lines in go/main.go: keep both in step).
//
// 1,000 users; user i (0..999):
//   id            00000000-0000-4000-8000-<i as 12 lower-case hex digits>
//   email         user{i}@example.com
//   display_name  User {i}
//   roles         [ROLE_MEMBER], plus ROLE_ADMIN when i % 10 == 0
//   etag          v1
//   create_time = update_time = 2026-01-01T00:00:00Z + i seconds
//
// `users` is a plain, frozen description; each peer maps it to its own
// message representation once at start-up (never per call).

export const USER_COUNT = 1000;
export const BASE_EPOCH_SECONDS = Date.UTC(2026, 0, 1) / 1000; // 1767225600
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export function userId(i) {
  return "00000000-0000-4000-8000-" + i.toString(16).padStart(12, "0");
}

function makeUser(i) {
  const seconds = BASE_EPOCH_SECONDS + i;
  return Object.freeze({
    index: i,
    id: userId(i),
    email: `user${i}@example.com`,
    displayName: `User ${i}`,
    roles: Object.freeze(i % 10 === 0 ? ["ROLE_MEMBER", "ROLE_ADMIN"] : ["ROLE_MEMBER"]),
    etag: "v1",
    // Timestamp as seconds since the epoch (nanos are always 0) and as RFC 3339.
    seconds,
    isoTime: new Date(seconds * 1000).toISOString().replace(".000Z", "Z"),
  });
}

/** All users, in creation (= index) order. */
export const users = Object.freeze(Array.from({ length: USER_COUNT }, (_, i) => makeUser(i)));

/** Enum numbers of trellis.user.v1.Role / ChangeType, for peers that need them. */
export const ROLE_NUMBER = Object.freeze({ ROLE_UNSPECIFIED: 0, ROLE_MEMBER: 1, ROLE_MODERATOR: 2, ROLE_ADMIN: 3 });
export const CHANGE_TYPE_EXISTING = 1;
export const CHANGE_TYPE_SNAPSHOT_END = 2;

/**
 * Build a lookup by id and the page function over any per-peer representation.
 * `toMsg(user)` maps one dataset user to the peer's message form.
 */
export function buildStore(toMsg) {
  const list = users.map(toMsg);
  const byId = new Map(users.map((u, i) => [u.id, list[i]]));
  return {
    list,
    get: (id) => byId.get(id),
    /**
     * ListUsers paging: pageSize 0 → 50, above 1000 → 1000; token = decimal
     * start index ("" = 0). Returns null for a bad token.
     */
    page(pageSize, pageToken) {
      let size = Number(pageSize) || 0;
      if (size <= 0) size = DEFAULT_PAGE_SIZE;
      if (size > MAX_PAGE_SIZE) size = MAX_PAGE_SIZE;
      let start = 0;
      if (pageToken) {
        if (!/^\d+$/.test(pageToken)) return null;
        start = Number(pageToken);
      }
      const end = Math.min(start + size, list.length);
      const items = start < list.length ? list.slice(start, end) : [];
      return { items, nextPageToken: end < list.length ? String(end) : "" };
    },
  };
}

/** The shared CLI bit: `--port <n>` (required). */
export function parsePort(argv = process.argv.slice(2)) {
  const i = argv.indexOf("--port");
  const raw = i >= 0 ? argv[i + 1] : undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error("usage: --port <n>");
    process.exit(2);
  }
  return port;
}

/** Print the single READY line the harness waits for. */
export function ready(port) {
  process.stdout.write(`READY ${port}\n`);
}

import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { PresenceEvent_Kind, type ChatEvent, type ChatMessage, type PresenceEvent } from "@trellis/api/trellis/chat/v1/chat_pb.js";

/** One line of a room's timeline. */
export type TimelineItem =
  | { readonly kind: "message"; readonly key: string; readonly message: ChatMessage }
  | { readonly kind: "presence"; readonly key: string; readonly presence: PresenceEvent };

/** A room as the page shows it: messages oldest first, presence changes where they happened. */
export interface Timeline {
  readonly items: readonly TimelineItem[];
  /** History's token for the next older page: undefined before the first read, "" at the room's beginning. */
  readonly olderToken: string | undefined;
  /** Who has a live session in the room, by user id, as seen since the page subscribed. */
  readonly present: ReadonlyMap<string, { readonly displayName: string; readonly sessions: number }>;
  /** Counter for presence items' keys. */
  readonly presenceSeq: number;
}

export const EMPTY_TIMELINE: Timeline = { items: [], olderToken: undefined, present: new Map(), presenceSeq: 0 };

function compare(a: Timestamp | undefined, b: Timestamp | undefined): number {
  const as = a?.seconds ?? 0n;
  const bs = b?.seconds ?? 0n;
  if (as !== bs) return as < bs ? -1 : 1;
  return (a?.nanos ?? 0) - (b?.nanos ?? 0);
}

function has(timeline: Timeline, id: string): boolean {
  return timeline.items.some((item) => item.kind === "message" && item.message.id === id);
}

/**
 * Puts messages we have not seen (given oldest first) into time order among those we have;
 * messages sent in the same millisecond keep the order given. Presence lines have no time: a
 * message missed while not subscribed goes before the live ones that came after it.
 */
function insertMessages(items: readonly TimelineItem[], messages: readonly ChatMessage[]): TimelineItem[] {
  const result = items.slice();
  for (const message of [...messages].sort((a, b) => compare(a.sendTime, b.sendTime))) {
    let at = result.length;
    while (at > 0) {
      const before = result[at - 1]!;
      if (before.kind === "message" && compare(before.message.sendTime, message.sendTime) <= 0) break;
      at -= 1;
    }
    result.splice(at, 0, { kind: "message", key: message.id, message });
  }
  return result;
}

/**
 * Merges a History page (newest first, in the room's own order). `older`: it is the page
 * before the oldest shown, so it goes above everything (its token moves `olderToken`);
 * otherwise it is the newest page, read when the stream went live, and fills in whatever was
 * posted while the page was not subscribed.
 */
export function mergeHistory(timeline: Timeline, messages: readonly ChatMessage[], nextPageToken: string, older: boolean): Timeline {
  const fresh = messages.filter((message) => !has(timeline, message.id)).reverse();
  const items = older
    ? [...fresh.map((message): TimelineItem => ({ kind: "message", key: message.id, message })), ...timeline.items]
    : insertMessages(timeline.items, fresh);
  const olderToken = older || timeline.olderToken === undefined ? nextPageToken : timeline.olderToken;
  return { ...timeline, items, olderToken };
}

/** Adds what the Subscribe stream delivered. */
export function addEvent(timeline: Timeline, event: ChatEvent | undefined): Timeline {
  const kind = event?.kind;
  if (kind === undefined || kind.case === undefined) return timeline;
  if (kind.case === "message") {
    if (has(timeline, kind.value.id)) return timeline;
    return { ...timeline, items: [...timeline.items, { kind: "message", key: kind.value.id, message: kind.value }] };
  }
  const presence = kind.value;
  const present = new Map(timeline.present);
  const now = present.get(presence.userId);
  if (presence.kind === PresenceEvent_Kind.JOINED) {
    present.set(presence.userId, { displayName: presence.displayName, sessions: (now?.sessions ?? 0) + 1 });
  } else if (presence.kind === PresenceEvent_Kind.LEFT) {
    if (now === undefined || now.sessions <= 1) present.delete(presence.userId);
    else present.set(presence.userId, { displayName: now.displayName, sessions: now.sessions - 1 });
  }
  const presenceSeq = timeline.presenceSeq + 1;
  return { ...timeline, present, presenceSeq, items: [...timeline.items, { kind: "presence", key: `presence-${presenceSeq}`, presence }] };
}

/** Adds the message Send returned (the stream may deliver it too; it is shown once). */
export function addSent(timeline: Timeline, message: ChatMessage): Timeline {
  return has(timeline, message.id) ? timeline : { ...timeline, items: insertMessages(timeline.items, [message]) };
}

/** Room names the service accepts (chat.proto). */
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** What a person typed, as a room name: "Design Team" -> "design-team". */
export function normaliseRoom(input: string): string {
  return input.trim().toLowerCase().replace(/^#/, "").replace(/\s+/g, "-");
}

import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Role } from "@trellis/api/trellis/user/v1/user_pb.js";

/** Roles a user can hold, in the order forms list them, with what people call them. */
export const ROLE_OPTIONS: readonly { readonly role: Role; readonly label: string; readonly hint: string }[] = [
  { role: Role.MEMBER, label: "Member", hint: "Can read and post" },
  { role: Role.MODERATOR, label: "Moderator", hint: "Can manage rooms" },
  { role: Role.ADMIN, label: "Admin", hint: "Can manage users" },
];

/** "Member", "Admin", … for a role. */
export function roleLabel(role: Role): string {
  return ROLE_OPTIONS.find((option) => option.role === role)?.label ?? "Unknown role";
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "Mar 4, 2026, 10:12 AM" */
export function formatDateTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "—" : dateTime.format(timestampDate(timestamp));
}

/** "10:12" */
export function formatTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "" : timeOnly.format(timestampDate(timestamp));
}

/** "2 minutes ago", "yesterday"; `now` is injectable for tests. */
export function formatRelative(timestamp: Timestamp | undefined, now: number = Date.now()): string {
  if (timestamp === undefined) return "—";
  const seconds = Math.round((timestampDate(timestamp).getTime() - now) / 1000);
  const steps: readonly [Intl.RelativeTimeFormatUnit, number][] = [
    ["second", 60],
    ["minute", 60],
    ["hour", 24],
    ["day", 30],
    ["month", 12],
    ["year", Number.POSITIVE_INFINITY],
  ];
  let value = seconds;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) return Math.abs(value) < 10 && unit === "second" ? "just now" : relative.format(value, unit);
    value = Math.round(value / size);
  }
  return dateTime.format(timestampDate(timestamp));
}

/** Up to two initials for an avatar: "Ada Lovelace" -> "AL". */
export function initials(name: string): string {
  const letters = name
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => [...word][0]?.toUpperCase() ?? "");
  return (letters.length > 1 ? letters[0]! + letters[letters.length - 1]! : (letters[0] ?? "?")) || "?";
}

/** A stable hue for a person's avatar, from their id. */
export function hueOf(id: string): number {
  let hash = 0;
  for (const char of id) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 360;
}

import type { ChatMessage } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { show, type Violation } from "./violation.js";

/** The room names the chat service accepts (chat.proto); only these can hold messages, and be read back. */
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * What the chat service must have stored, from the calls that returned OK:
 * every stored message is an OK Send's (by id) or a post a Chat stream had
 * accepted (proved by the stream's barrier: see ChatSessionCase), and every
 * one of those is stored.
 */
export interface ChatLedger {
  /** A room some request named: read back at the next audit. */
  touched(room: string): void;
  /** The rooms touched since the last audit. */
  touchedRooms(): readonly string[];
  sent(message: ChatMessage, source: string): void;
  /** A post a Chat stream accepted (`text` as the server decoded it), or one whose content the fuzzer cannot decode (`undefined`). */
  posted(senderId: string, post: { readonly room: string; readonly text: string } | undefined, source: string): void;
  /** A Send whose outcome is unknown (it hung). */
  maySend(senderId: string, room: string, text: string, source: string): void;
  note(key: string, entry: string): void;
  /** Compares the touched rooms' stored messages with the ledger, then starts a new batch. */
  audit(roomMessages: ReadonlyMap<string, readonly ChatMessage[]>): Violation[];
}

const NOTES_PER_KEY = 6;

/** An empty ledger. */
export function createChatLedger(): ChatLedger {
  const verified = new Set<string>();
  let batch = newBatch();
  function newBatch() {
    return {
      rooms: new Set<string>(),
      sends: new Map<string, { message: ChatMessage; source: string }>(),
      posts: new Map<string, string[]>(),
      unknownPosts: new Map<string, number>(),
      maybe: new Map<string, string[]>(),
      notes: new Map<string, string[]>(),
    };
  }
  const key = (room: string, sender: string, text: string): string => `${room}\u0001${sender}\u0001${text}`;
  const push = (map: Map<string, string[]>, k: string, v: string): void => void map.set(k, [...(map.get(k) ?? []), v]);
  const notesFor = (...keys: string[]): string => {
    const lines = keys.flatMap((k) => batch.notes.get(k) ?? []);
    return lines.length === 0 ? "" : `; calls naming it this batch:\n      ${lines.join("\n      ")}`;
  };

  return {
    touched(room) {
      if (ROOM_PATTERN.test(room)) batch.rooms.add(room);
    },
    touchedRooms: () => [...batch.rooms],
    sent(message, source) {
      batch.rooms.add(message.room);
      batch.sends.set(message.id, { message, source });
    },
    posted(senderId, post, source) {
      if (post === undefined) batch.unknownPosts.set(senderId, (batch.unknownPosts.get(senderId) ?? 0) + 1);
      else {
        this.touched(post.room);
        push(batch.posts, key(post.room, senderId, post.text), source);
      }
    },
    maySend(senderId, room, text, source) {
      push(batch.maybe, key(room, senderId, text), source);
    },
    note(k, entry) {
      const list = batch.notes.get(k) ?? [];
      if (list.length < NOTES_PER_KEY) list.push(entry);
      batch.notes.set(k, list);
    },
    audit(roomMessages) {
      const violations: Violation[] = [];
      for (const [room, messages] of roomMessages) {
        for (const message of messages) {
          if (verified.has(message.id)) continue;
          verified.add(message.id);
          if (batch.sends.delete(message.id)) continue;
          const k = key(room, message.senderId, message.text);
          const take = (map: Map<string, string[]>): boolean => {
            const sources = map.get(k);
            if (sources === undefined) return false;
            sources.shift();
            if (sources.length === 0) map.delete(k);
            return true;
          };
          if (take(batch.posts) || take(batch.maybe)) continue;
          const unknown = batch.unknownPosts.get(message.senderId) ?? 0;
          if (unknown > 0) {
            batch.unknownPosts.set(message.senderId, unknown - 1);
            continue;
          }
          violations.push({
            property: "no row written by a rejected call",
            detail: `message ${message.id} in room ${show(room)} from ${message.senderId} with text ${show(message.text)} is stored, but no OK Send or accepted Chat post wrote it${notesFor(room, message.senderId)}`,
          });
        }
      }
      for (const { message, source } of batch.sends.values()) {
        violations.push({
          property: "every OK write is stored",
          detail: `${source}: Send returned message ${message.id} in ${show(message.room)}, but History does not have it`,
        });
      }
      for (const [k, sources] of batch.posts) {
        const [room, sender, text] = k.split("\u0001");
        violations.push({
          property: "every OK write is stored",
          detail: `${sources.join(", ")}: a Chat post to ${show(room)} by ${sender} with text ${show(text)} was accepted, but History does not have it`,
        });
      }
      batch = newBatch();
      return violations;
    },
  };
}

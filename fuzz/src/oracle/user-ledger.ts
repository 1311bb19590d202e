import type { User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { show, type Violation } from "./violation.js";

/** A user as the ledger expects it to be stored. */
interface ExpectedUser {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly roles: readonly number[];
  readonly etag: string;
}

/** An ImportUsers row as the server saw it (decoded from the bytes sent), or undefined when the fuzzer cannot decode it. */
export interface ImportRow {
  readonly email: string;
  readonly displayName: string;
  readonly roles: readonly number[];
}

/** One change from the oracle's WatchUsers stream. */
export interface UserChange {
  readonly type: "created" | "updated" | "deleted" | "other";
  readonly id: string;
  readonly email: string;
}

/**
 * What the user service must have stored, from the calls that returned OK, so
 * that after a batch the real table and change feed can be compared with it
 * exactly: every stored user was created by an OK CreateUser or an OK
 * ImportUsers row (or, by design, a row an import processed before the import
 * failed), every update and delete in the table and the feed is an OK call's.
 */
export interface UserLedger {
  /** Ids of every user an OK call created (deleted ones too): targets for Get/Update/Delete. */
  ids(): readonly string[];
  emails(): readonly string[];
  etags(): readonly string[];
  created(user: User, source: string): void;
  updated(user: User, source: string): void;
  deleted(id: string, source: string): void;
  /** An OK DeleteUser whose id the fuzzer cannot decode. */
  deletedUnknown(source: string): void;
  /** An OK ImportUsers: `rows` as sent, `failedIndexes` from its summary. */
  imported(rows: readonly (ImportRow | undefined)[], failedIndexes: ReadonlySet<number>, source: string): void;
  /**
   * A call whose effect is not known (it hung, or it is an import that failed
   * after processing some rows): what it sent may or may not be stored.
   */
  mayHaveWritten(rows: readonly (ImportRow | undefined)[], source: string): void;
  /** A hung UpdateUser/DeleteUser: the user may have changed. */
  mayHaveChanged(id: string | undefined, source: string): void;
  /** Notes a call that named `key` (an email or id), for the report. */
  note(key: string, entry: string): void;
  /** Compares the table (every user, listed) and this batch's changes with the ledger, then starts a new batch. */
  audit(stored: readonly User[], changes: readonly UserChange[]): Violation[];
}

const NOTES_PER_KEY = 6;
const ROW_PROPERTY = "no row written by a rejected call";

/** Normalisation the README promises: emails trimmed and lower-cased, names trimmed, no roles means member. */
function expectedRow(row: ImportRow): ImportRow {
  return {
    email: row.email.trim().toLowerCase(),
    displayName: row.displayName.trim(),
    roles: row.roles.length === 0 ? [1] : [...row.roles],
  };
}

function version(etag: string): number {
  const match = /^v(\d+)$/.exec(etag);
  return match === null ? -1 : Number(match[1]);
}

function sameRoles(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((role, i) => role === b[i]);
}

/** An empty ledger. */
export function createUserLedger(): UserLedger {
  const live = new Map<string, ExpectedUser>();
  const everIds: string[] = [];
  const deletedIds = new Set<string>();
  let batch = newBatch();

  function newBatch() {
    return {
      createdIds: new Set<string>(),
      mustExist: new Map<string, { row: ImportRow; source: string }[]>(),
      mustExistUnknown: 0,
      mayExist: new Map<string, { row: ImportRow; source: string }[]>(),
      mayExistUnknown: 0,
      updates: new Map<string, number>(),
      deletes: new Map<string, number>(),
      deletesUnknown: 0,
      mayHaveChanged: new Set<string>(),
      mayHaveChangedUnknown: 0,
      notes: new Map<string, string[]>(),
    };
  }
  const toExpected = (user: User): ExpectedUser => ({
    id: user.id,
    email: user.email,
    displayName: user.displayName,
    roles: [...user.roles],
    etag: user.etag,
  });
  const notesFor = (...keys: string[]): string => {
    const lines = keys.flatMap((key) => batch.notes.get(key.toLowerCase()) ?? []);
    return lines.length === 0 ? " (no call this batch named it)" : `; calls naming it this batch:\n      ${lines.join("\n      ")}`;
  };
  const push = <T>(map: Map<string, T[]>, key: string, value: T): void => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [value]);
    else list.push(value);
  };

  return {
    ids: () => everIds,
    emails: () => [...live.values()].map((u) => u.email),
    etags: () => [...live.values()].map((u) => u.etag),
    created(user, source) {
      live.set(user.id, toExpected(user));
      everIds.push(user.id);
      batch.createdIds.add(user.id);
      this.note(user.id, source);
    },
    updated(user, source) {
      batch.updates.set(user.id, (batch.updates.get(user.id) ?? 0) + 1);
      this.note(user.id, source);
      const current = live.get(user.id);
      if (!deletedIds.has(user.id) && (current === undefined || version(user.etag) >= version(current.etag)))
        live.set(user.id, toExpected(user));
    },
    deleted(id, source) {
      batch.deletes.set(id, (batch.deletes.get(id) ?? 0) + 1);
      this.note(id, source);
      live.delete(id);
      deletedIds.add(id);
    },
    deletedUnknown() {
      batch.deletesUnknown += 1;
    },
    imported(rows, failedIndexes, source) {
      rows.forEach((row, index) => {
        if (failedIndexes.has(index)) return;
        if (row === undefined) batch.mustExistUnknown += 1;
        else push(batch.mustExist, expectedRow(row).email, { row: expectedRow(row), source: `${source} row ${index}` });
      });
    },
    mayHaveWritten(rows, source) {
      rows.forEach((row, index) => {
        if (row === undefined) batch.mayExistUnknown += 1;
        else push(batch.mayExist, expectedRow(row).email, { row: expectedRow(row), source: `${source} row ${index}` });
      });
    },
    mayHaveChanged(id) {
      if (id === undefined) batch.mayHaveChangedUnknown += 1;
      else batch.mayHaveChanged.add(id.toLowerCase());
    },
    note(key, entry) {
      const list = batch.notes.get(key.toLowerCase()) ?? [];
      if (list.length < NOTES_PER_KEY) list.push(entry);
      batch.notes.set(key.toLowerCase(), list);
    },
    audit(stored, changes) {
      const violations: Violation[] = [];
      // The unattributed budgets are spent on the table below; the change feed is judged against them as they were.
      const unknownDeletes = batch.deletesUnknown > 0;
      const unknownChanges = batch.mayHaveChangedUnknown > 0;
      const spend = (budget: "deletesUnknown" | "mayHaveChangedUnknown"): boolean => {
        if (batch[budget] === 0) return false;
        batch[budget] -= 1;
        return true;
      };
      const storedById = new Map(stored.map((user) => [user.id, user]));
      const adopted = new Set<string>();

      for (const expected of [...live.values()]) {
        const user = storedById.get(expected.id);
        if (user === undefined) {
          // A hung call on this very user, or an OK delete (or hung call) whose id the fuzzer could not decode, may explain it.
          const explained = batch.mayHaveChanged.has(expected.id) || spend("deletesUnknown") || spend("mayHaveChangedUnknown");
          if (explained) {
            live.delete(expected.id);
            continue;
          }
          violations.push({
            property: ROW_PROPERTY,
            detail: `user ${expected.id} (${show(expected.email)}), created and never deleted by an OK call, is gone${notesFor(expected.id, expected.email)}`,
          });
          live.delete(expected.id);
          continue;
        }
        storedById.delete(expected.id);
        const same =
          user.email === expected.email &&
          user.displayName === expected.displayName &&
          sameRoles(user.roles, expected.roles) &&
          user.etag === expected.etag;
        if (!same && !batch.mayHaveChanged.has(expected.id) && batch.mayHaveChangedUnknown === 0) {
          violations.push({
            property: ROW_PROPERTY,
            detail: `user ${expected.id} changed without an OK call: expected ${show(expected)}, stored ${show(toExpected(user))}${notesFor(expected.id, expected.email, user.email)}`,
          });
        }
        live.set(user.id, toExpected(user));
      }

      for (const user of storedById.values()) {
        const take = (pool: Map<string, { row: ImportRow; source: string }[]>): { row: ImportRow; source: string } | undefined => {
          const candidates = pool.get(user.email) ?? [];
          const index = candidates.findIndex((c) => c.row.displayName === user.displayName && sameRoles(c.row.roles, user.roles));
          const found = index === -1 ? undefined : candidates.splice(index, 1)[0];
          if (candidates.length === 0) pool.delete(user.email);
          return found;
        };
        const match = take(batch.mustExist) ?? take(batch.mayExist);
        if (match === undefined) {
          if (batch.mustExistUnknown > 0) batch.mustExistUnknown -= 1;
          else if (batch.mayExistUnknown > 0) batch.mayExistUnknown -= 1;
          else {
            violations.push({
              property: ROW_PROPERTY,
              detail: `user ${user.id} ${show(toExpected(user))} exists, but no OK CreateUser or ImportUsers row created it${notesFor(user.email, user.id)}`,
            });
          }
        }
        adopted.add(user.id);
        live.set(user.id, toExpected(user));
        everIds.push(user.id);
      }
      for (const [email, rows] of batch.mustExist) {
        for (const { row, source } of rows) {
          violations.push({
            property: "every OK write is stored",
            detail: `${source}: reported created, but no user ${show(row)} is stored${notesFor(email)}`,
          });
        }
      }

      // The change feed must hold exactly the OK writes.
      const count = (type: UserChange["type"]): Map<string, number> => {
        const out = new Map<string, number>();
        for (const change of changes) if (change.type === type) out.set(change.id, (out.get(change.id) ?? 0) + 1);
        return out;
      };
      const createdChanges = count("created");
      for (const [id, n] of createdChanges) {
        if (n !== 1 || !(batch.createdIds.has(id) || adopted.has(id))) {
          violations.push({
            property: ROW_PROPERTY,
            detail: `change feed: ${n} CREATED change(s) for ${id}, which ${batch.createdIds.has(id) || adopted.has(id) ? "was created once" : "no OK call created"}${notesFor(id)}`,
          });
        }
      }
      for (const id of [...batch.createdIds, ...adopted]) {
        if (!createdChanges.has(id))
          violations.push({ property: "every OK write is stored", detail: `change feed: no CREATED change for user ${id}${notesFor(id)}` });
      }
      for (const [type, expected] of [
        ["updated", batch.updates],
        ["deleted", batch.deletes],
      ] as const) {
        const seen = count(type);
        for (const id of new Set([...seen.keys(), ...expected.keys()])) {
          const n = seen.get(id) ?? 0;
          const want = expected.get(id) ?? 0;
          const uncertain = batch.mayHaveChanged.has(id) || unknownChanges || (type === "deleted" && unknownDeletes);
          if (n !== want && !(uncertain && n >= want)) {
            violations.push({
              property: n > want ? ROW_PROPERTY : "every OK write is stored",
              detail: `change feed: ${n} ${type.toUpperCase()} change(s) for user ${id}, but ${want} OK call(s)${notesFor(id)}`,
            });
          }
        }
      }
      for (const change of changes) {
        if (change.type === "other")
          violations.push({ property: "change feed", detail: `unexpected change type on a plain watch for ${change.id}` });
      }
      batch = newBatch();
      return violations;
    },
  };
}

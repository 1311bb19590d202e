import type { User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Clients } from "../api/clients.js";
import { isCancellation, readProblem } from "../api/rpc-errors.js";

const SENDER_KEY = "trellis.chat.sender";

/** The remembered sender id (a user of the directory), if any. */
export function readSender(storage: Pick<Storage, "getItem"> | undefined): string {
  try {
    return storage?.getItem(SENDER_KEY) ?? "";
  } catch {
    return "";
  }
}

/** Remembers the sender for the next visit. */
export function saveSender(storage: Pick<Storage, "setItem"> | undefined, id: string): void {
  try {
    storage?.setItem(SENDER_KEY, id);
  } catch {
    // Storage may be off: the choice lasts this visit.
  }
}

/**
 * "Posting as": chat has no sign-in yet, so a message's sender is a user picked from the
 * directory (the chat service checks that the user exists on every Send).
 */
export function SenderPicker(props: {
  readonly clients: Clients;
  readonly senderId: string;
  readonly onChange: (user: User | undefined) => void;
}) {
  const [users, setUsers] = useState<readonly User[] | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  // The sender when the list was read: picking another one needs no new read.
  const initial = useRef(props.senderId);

  useEffect(() => {
    const controller = new AbortController();
    void (async () => {
      try {
        const { users: page } = await props.clients.users.listUsers({ pageSize: 200 }, { signal: controller.signal });
        let list = page;
        const wanted = initial.current;
        if (wanted !== "" && !page.some((user) => user.id === wanted)) {
          const chosen = await props.clients.users.getUser({ id: wanted }, { signal: controller.signal }).catch(() => undefined);
          if (chosen?.user !== undefined) list = [chosen.user, ...page];
        }
        setUsers(list);
        setProblem(undefined);
        props.onChange(list.find((user) => user.id === wanted));
      } catch (error) {
        if (!isCancellation(error)) setProblem(readProblem(error).message);
      }
    })();
    return () => controller.abort();
  }, [props.clients]);

  if (problem !== undefined) {
    return (
      <p class="notice notice-error" role="alert">
        Could not load the people you can post as. {problem}
      </p>
    );
  }
  if (users === undefined) return <p class="muted">Loading people…</p>;
  if (users.length === 0) {
    return (
      <p class="notice notice-info">
        Nobody is in the directory yet. <a href="#/people">Add someone</a> to post in chat.
      </p>
    );
  }
  return (
    <label class="stack-field">
      <span>Posting as</span>
      <select
        value={props.senderId}
        onChange={(event) => {
          const user = users.find((candidate) => candidate.id === event.currentTarget.value);
          props.onChange(user);
        }}
      >
        <option value="">Choose a person…</option>
        {users.map((user) => (
          <option key={user.id} value={user.id}>
            {user.displayName} ({user.email})
          </option>
        ))}
      </select>
    </label>
  );
}

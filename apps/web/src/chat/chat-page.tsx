import { PresenceEvent_Kind, type SubscribeResponse } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import type { User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Clients } from "../api/clients.js";
import { isCancellation, readProblem } from "../api/rpc-errors.js";
import { runLiveStream, type LiveStatus } from "../live/live-stream.js";
import { Avatar } from "../ui/avatar.js";
import { formatDateTime, formatTime } from "../ui/format.js";
import { StatusPill } from "../ui/status-pill.js";
import { addEvent, addSent, EMPTY_TIMELINE, mergeHistory, normaliseRoom, ROOM_PATTERN, type Timeline } from "./chat-model.js";
import { Composer } from "./composer.js";
import { readSender, saveSender, SenderPicker } from "./sender-picker.js";

const PAGE_SIZE = 50;
const SUGGESTED_ROOMS = ["general", "random", "support"] as const;

/**
 * A chat room: its history a page at a time, new messages and presence live from Subscribe,
 * and a composer that posts with Send as the person picked in "Posting as".
 */
export function ChatPage({ clients, room }: { readonly clients: Clients; readonly room: string }) {
  const [timeline, setTimeline] = useState<Timeline>(EMPTY_TIMELINE);
  const [status, setStatus] = useState<LiveStatus>({ state: "connecting" });
  const [historyProblem, setHistoryProblem] = useState<string | undefined>(undefined);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [sender, setSender] = useState<User | undefined>(undefined);
  const [senderId, setSenderId] = useState(() => readSender(globalThis.localStorage));
  const logRef = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const keepOffset = useRef<number | undefined>(undefined);
  const roomValid = ROOM_PATTERN.test(room);

  // A new room starts empty.
  useEffect(() => {
    setTimeline(EMPTY_TIMELINE);
    setHistoryProblem(undefined);
    pinned.current = true;
  }, [room, clients]);

  const readNewest = async (signal?: AbortSignal): Promise<void> => {
    try {
      const page = await clients.chat.history({ room, pageSize: PAGE_SIZE }, signal === undefined ? {} : { signal });
      setTimeline((current) => mergeHistory(current, page.messages, page.nextPageToken, false));
      setHistoryProblem(undefined);
    } catch (error) {
      if (!isCancellation(error)) setHistoryProblem(readProblem(error).message);
    }
  };

  // Live: subscribe, and each time the stream is (again) live, read the newest page so that
  // whatever was posted while not subscribed shows up too.
  useEffect(() => {
    if (!roomValid) return;
    const controller = new AbortController();
    void readNewest(controller.signal);
    const stop = runLiveStream<SubscribeResponse>({
      open: (signal, onHeader) => clients.chat.subscribe({ room }, { signal, onHeader, timeoutMs: 0 }),
      onMessage: (response) => setTimeline((current) => addEvent(current, response.event)),
      onStatus: setStatus,
      onLive: () => void readNewest(controller.signal),
    });
    return () => {
      controller.abort();
      stop();
    };
  }, [clients, room, roomValid]);

  const loadOlder = async (): Promise<void> => {
    const token = timeline.olderToken;
    if (token === undefined || token === "" || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await clients.chat.history({ room, pageSize: PAGE_SIZE, pageToken: token });
      const log = logRef.current;
      keepOffset.current = log === null ? undefined : log.scrollHeight - log.scrollTop;
      setTimeline((current) => mergeHistory(current, page.messages, page.nextPageToken, true));
    } catch (error) {
      setHistoryProblem(readProblem(error).message);
    } finally {
      setLoadingOlder(false);
    }
  };

  // Stay at the bottom while following the conversation; keep the place when older messages load.
  useLayoutEffect(() => {
    const log = logRef.current;
    if (log === null) return;
    if (keepOffset.current !== undefined) {
      log.scrollTop = log.scrollHeight - keepOffset.current;
      keepOffset.current = undefined;
    } else if (pinned.current) {
      log.scrollTop = log.scrollHeight;
    }
  }, [timeline]);

  const chooseSender = (user: User | undefined): void => {
    setSender(user);
    if (user !== undefined) {
      setSenderId(user.id);
      saveSender(globalThis.localStorage, user.id);
    }
  };

  const present = [...timeline.present.entries()];
  const messages = timeline.items.filter((item) => item.kind === "message").length;

  return (
    <section class="page chat" aria-labelledby="chat-title">
      <aside class="chat-sidebar" aria-label="Rooms and identity">
        <RoomSwitcher room={room} />
        <SenderPicker clients={clients} senderId={senderId} onChange={chooseSender} />
        <section class="presence" aria-labelledby="presence-title">
          <h2 id="presence-title">Active now</h2>
          {present.length === 0 ? (
            <p class="muted small">
              Nobody is in a live chat session here. People who join from a chat client show up as they come and go.
            </p>
          ) : (
            <ul class="presence-list">
              {present.map(([id, person]) => (
                <li key={id}>
                  <span class="presence-dot" aria-hidden="true" />
                  <Avatar id={id} name={person.displayName} size="sm" />
                  {person.displayName}
                </li>
              ))}
            </ul>
          )}
        </section>
      </aside>

      <div class="chat-main">
        <header class="chat-header">
          <h1 id="chat-title">
            <span aria-hidden="true" class="room-hash">
              #
            </span>
            <span class="visually-hidden">Room </span>
            {room}
          </h1>
          <StatusPill status={status} label="Room updates" />
        </header>

        {!roomValid ? (
          <div class="empty">
            <h2>That is not a room name</h2>
            <p>Room names are up to 64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit.</p>
          </div>
        ) : (
          <>
            {historyProblem !== undefined && (
              <div class="notice notice-error" role="alert">
                <p>Could not load the conversation. {historyProblem}</p>
                <button type="button" class="button button-secondary" onClick={() => void readNewest()}>
                  Try again
                </button>
              </div>
            )}
            <div
              class="chat-log"
              ref={logRef}
              tabIndex={0}
              onScroll={(event) => {
                const log = event.currentTarget;
                pinned.current = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
              }}
            >
              <div class="chat-log-top">
                {timeline.olderToken === undefined && historyProblem === undefined ? (
                  <p class="muted small">Loading the conversation…</p>
                ) : timeline.olderToken === "" ? (
                  messages > 0 && <p class="muted small">This is the beginning of #{room}.</p>
                ) : (
                  <button
                    type="button"
                    class="button button-secondary button-small"
                    onClick={() => void loadOlder()}
                    disabled={loadingOlder}
                  >
                    {loadingOlder ? "Loading…" : "Load older messages"}
                  </button>
                )}
              </div>
              {timeline.olderToken !== undefined && messages === 0 && timeline.items.length === 0 && (
                <div class="empty empty-chat">
                  <h2>No messages yet</h2>
                  <p>Be the first to say something in #{room}.</p>
                </div>
              )}
              <div role="log" aria-live="polite" aria-label={`Messages in #${room}`}>
                <ol class="messages">
                  {timeline.items.map((item) =>
                    item.kind === "message" ? (
                      <li
                        key={item.key}
                        class={`message${item.message.senderId === sender?.id ? " message-own" : ""}`}
                        data-message-id={item.message.id}
                      >
                        <Avatar id={item.message.senderId} name={item.message.senderName} />
                        <div class="message-body">
                          <div class="message-meta">
                            <span class="message-sender">{item.message.senderName}</span>
                            <time title={formatDateTime(item.message.sendTime)}>{formatTime(item.message.sendTime)}</time>
                          </div>
                          <p class="message-text">{item.message.text}</p>
                        </div>
                      </li>
                    ) : (
                      <li key={item.key} class="presence-line">
                        {item.presence.displayName} {item.presence.kind === PresenceEvent_Kind.JOINED ? "joined" : "left"}
                      </li>
                    ),
                  )}
                </ol>
              </div>
            </div>
            <Composer
              room={room}
              sender={sender}
              send={async (text) => {
                if (sender === undefined) throw new Error("no sender");
                const { message } = await clients.chat.send({ room, senderId: sender.id, text });
                if (message !== undefined) {
                  pinned.current = true;
                  setTimeline((current) => addSent(current, message));
                }
              }}
              onSenderGone={() => chooseSender(undefined)}
            />
          </>
        )}
      </div>
    </section>
  );
}

/** Recent rooms and a way to open any other. */
function RoomSwitcher({ room }: { readonly room: string }) {
  const [input, setInput] = useState("");
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const rooms = SUGGESTED_ROOMS.includes(room as (typeof SUGGESTED_ROOMS)[number]) ? SUGGESTED_ROOMS : [...SUGGESTED_ROOMS, room];
  return (
    <nav class="rooms" aria-labelledby="rooms-title">
      <h2 id="rooms-title">Rooms</h2>
      <ul>
        {rooms.map((name) => (
          <li key={name}>
            <a href={`#/chat/${name}`} aria-current={name === room ? "page" : undefined}>
              <span aria-hidden="true">#</span>
              {name}
            </a>
          </li>
        ))}
      </ul>
      <form
        class="room-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          const name = normaliseRoom(input);
          if (!ROOM_PATTERN.test(name)) {
            setProblem("Use lowercase letters, digits, dots, dashes or underscores (up to 64).");
            return;
          }
          setProblem(undefined);
          setInput("");
          location.hash = `#/chat/${name}`;
        }}
      >
        <label for="room-input" class="visually-hidden">
          Open a room
        </label>
        <input
          id="room-input"
          placeholder="Open a room…"
          value={input}
          onInput={(event) => setInput(event.currentTarget.value)}
          aria-invalid={problem === undefined ? undefined : "true"}
          aria-describedby={problem === undefined ? undefined : "room-input-error"}
        />
        <button type="submit" class="button button-secondary button-small">
          Open
        </button>
        {problem !== undefined && (
          <p id="room-input-error" class="field-error">
            {problem}
          </p>
        )}
      </form>
    </nav>
  );
}

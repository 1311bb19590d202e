import { Code } from "@connectrpc/connect";
import { Role, type User, type WatchUsersResponse } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { Clients } from "../api/clients.js";
import { isCancellation, readProblem } from "../api/rpc-errors.js";
import { runLiveStream, type LiveStatus } from "../live/live-stream.js";
import { Avatar } from "../ui/avatar.js";
import { formatDateTime, formatRelative, ROLE_OPTIONS, roleLabel } from "../ui/format.js";
import { StatusPill } from "../ui/status-pill.js";
import { DeleteUser } from "./delete-user.js";
import {
  applyChange,
  EMPTY_MEMORY,
  pageFromList,
  remember,
  type DirectoryFilter,
  type DirectoryPage,
  type FeedMemory,
} from "./directory-model.js";
import { UserForm } from "./user-form.js";

const PAGE_SIZES = [10, 25, 50] as const;

type Dialog =
  | { readonly kind: "create" }
  | { readonly kind: "edit"; readonly user: User }
  | { readonly kind: "delete"; readonly user: User }
  | undefined;

/**
 * The user directory: one page of ListUsers at a time (search, role filter, paging), kept
 * current by WatchUsers — rows change, appear and disappear as anyone edits the directory.
 */
export function DirectoryPage({ clients }: { readonly clients: Clients }) {
  const [filter, setFilter] = useState<DirectoryFilter>({ query: "", role: Role.UNSPECIFIED });
  const [queryInput, setQueryInput] = useState("");
  const [pageSize, setPageSize] = useState<number>(25);
  // Tokens of the pages visited: tokens[i] reads page i + 1.
  const [tokens, setTokens] = useState<readonly string[]>([""]);
  const [page, setPage] = useState<DirectoryPage | undefined>(undefined);
  const [loadProblem, setLoadProblem] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [status, setStatus] = useState<LiveStatus>({ state: "connecting" });
  const [dialog, setDialog] = useState<Dialog>(undefined);
  const [toast, setToast] = useState<string | undefined>(undefined);
  const memory = useRef<FeedMemory>(EMPTY_MEMORY);
  const searchRef = useRef<HTMLInputElement>(null);

  const pageIndex = tokens.length - 1;
  const view = useRef({ filter, pageSize, token: tokens[pageIndex] ?? "" });
  view.current = { filter, pageSize, token: tokens[pageIndex] ?? "" };
  const reads = useRef(0);

  /** Reads the page on screen again; a newer read wins over an older one. */
  const load = useCallback(async (): Promise<void> => {
    const read = ++reads.current;
    const { filter: f, pageSize: size, token } = view.current;
    setLoading(true);
    try {
      const response = await clients.users.listUsers({ pageSize: size, pageToken: token, query: f.query.trim(), role: f.role });
      if (read !== reads.current) return;
      setPage(pageFromList(response.users, response.nextPageToken, memory.current));
      setLoadProblem(undefined);
    } catch (error) {
      if (read !== reads.current || isCancellation(error)) return;
      setLoadProblem(readProblem(error).message);
    } finally {
      if (read === reads.current) setLoading(false);
    }
  }, [clients]);

  useEffect(() => void load(), [load, filter, pageSize, tokens]);

  // Search as you type, once typing pauses.
  useEffect(() => {
    const timer = setTimeout(() => {
      if (queryInput !== filter.query) {
        setFilter({ ...filter, query: queryInput });
        setTokens([""]);
      }
    }, 250);
    return () => clearTimeout(timer);
  }, [queryInput]);

  // The change feed: every write anyone makes, applied to the page on screen.
  useEffect(() => {
    let resumeToken = "";
    return runLiveStream<WatchUsersResponse>({
      open: (signal, onHeader) => clients.users.watchUsers({ includeSnapshot: false, resumeToken }, { signal, onHeader, timeoutMs: 0 }),
      onMessage: (change) => {
        if (change.resumeToken !== "") resumeToken = change.resumeToken;
        memory.current = remember(memory.current, change);
        let reread = false;
        setPage((current) => {
          if (current === undefined) return current;
          const update = applyChange(current, change, view.current.filter, view.current.pageSize);
          reread = update.reread;
          return update.page;
        });
        if (reread) void load();
      },
      onStatus: setStatus,
      // Live (again): read the page once more, so nothing written before the feed started is missed.
      onLive: () => void load(),
      onFailure: (failure) => {
        // A resume token the server no longer accepts: start afresh (the reread catches up).
        if (failure.code === Code.OutOfRange || failure.code === Code.InvalidArgument) resumeToken = "";
      },
      fatal: [Code.PermissionDenied, Code.Unauthenticated, Code.Unimplemented],
    });
  }, [clients, load]);

  useEffect(() => {
    if (toast === undefined) return;
    const timer = setTimeout(() => setToast(undefined), 4000);
    return () => clearTimeout(timer);
  }, [toast]);

  // "/" jumps to the search box, as in most directories.
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if (event.key !== "/" || event.defaultPrevented || dialog !== undefined) return;
      const target = event.target as HTMLElement | null;
      if (target?.closest("input, textarea, select, [contenteditable]")) return;
      event.preventDefault();
      searchRef.current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [dialog]);

  const filtered = filter.query.trim() !== "" || filter.role !== Role.UNSPECIFIED;
  const rows = page?.rows ?? [];
  const editingLatest =
    dialog?.kind === "edit" ? (rows.find((row) => row.id === dialog.user.id) ?? memory.current.latest.get(dialog.user.id)) : undefined;

  return (
    <section class="page" aria-labelledby="directory-title">
      <header class="page-header">
        <div>
          <h1 id="directory-title">People</h1>
          <p class="page-subtitle">Everyone in the directory. Changes made anywhere show up here as they happen.</p>
        </div>
        <div class="page-header-actions">
          <StatusPill status={status} label="Directory updates" />
          <button type="button" class="button button-primary" onClick={() => setDialog({ kind: "create" })}>
            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
              <path d="M10 4v12M4 10h12" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
            </svg>
            New user
          </button>
        </div>
      </header>

      <div class="toolbar" role="search">
        <div class="search">
          <label for="directory-search" class="visually-hidden">
            Search by name or email
          </label>
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="search-icon">
            <circle cx="9" cy="9" r="5.5" stroke="currentColor" stroke-width="1.8" fill="none" />
            <path d="M13 13l4 4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" />
          </svg>
          <input
            id="directory-search"
            ref={searchRef}
            type="search"
            placeholder="Search by name or email"
            maxLength={100}
            value={queryInput}
            onInput={(event) => setQueryInput(event.currentTarget.value)}
            aria-keyshortcuts="/"
          />
        </div>
        <label class="inline-field">
          <span>Role</span>
          <select
            value={String(filter.role)}
            onChange={(event) => {
              setFilter({ ...filter, role: Number(event.currentTarget.value) as Role });
              setTokens([""]);
            }}
          >
            <option value={String(Role.UNSPECIFIED)}>Any role</option>
            {ROLE_OPTIONS.map((option) => (
              <option key={option.role} value={String(option.role)}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
      </div>

      {loadProblem !== undefined && (
        <div class="notice notice-error" role="alert">
          <p>Could not load the directory. {loadProblem}</p>
          <button type="button" class="button button-secondary" onClick={() => void load()}>
            Try again
          </button>
        </div>
      )}

      {page !== undefined && page.addedElsewhere > 0 && (
        <p class="notice notice-info" role="status">
          {page.addedElsewhere === 1 ? "1 new user was" : `${page.addedElsewhere} new users were`} added after this page — see the last
          page.
        </p>
      )}

      <div class="table-card" aria-busy={loading}>
        <table class="table" aria-labelledby="directory-title" aria-describedby="directory-caption">
          <caption id="directory-caption" class="visually-hidden">
            Users, oldest first, page {pageIndex + 1}
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Roles</th>
              <th scope="col">Last change</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page === undefined && loadProblem === undefined && <SkeletonRows />}
            {rows.map((user) => (
              <tr
                key={user.id}
                data-user-id={user.id}
                class={page?.marks.get(user.id) === undefined ? undefined : `row-${page.marks.get(user.id)}`}
              >
                <td>
                  <span class="person">
                    <Avatar id={user.id} name={user.displayName} />
                    <span class="person-name">{user.displayName}</span>
                  </span>
                </td>
                <td class="muted">{user.email}</td>
                <td>
                  <span class="chips">
                    {user.roles.map((role) => (
                      <span key={role} class={`chip chip-${Role[role]?.toLowerCase() ?? "unknown"}`}>
                        {roleLabel(role)}
                      </span>
                    ))}
                  </span>
                </td>
                <td class="muted">
                  <time title={formatDateTime(user.updateTime)}>{formatRelative(user.updateTime)}</time>
                </td>
                <td class="row-actions">
                  <button
                    type="button"
                    class="button button-ghost"
                    onClick={() => setDialog({ kind: "edit", user })}
                    aria-label={`Edit ${user.displayName}`}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    class="button button-ghost button-ghost-danger"
                    onClick={() => setDialog({ kind: "delete", user })}
                    aria-label={`Delete ${user.displayName}`}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page !== undefined && rows.length === 0 && (
          <div class="empty">
            {filtered ? (
              <>
                <h2>No one matches</h2>
                <p>
                  Nobody's name or email contains “{filter.query.trim()}”
                  {filter.role !== Role.UNSPECIFIED ? ` with the role ${roleLabel(filter.role)}` : ""}.
                </p>
                <button
                  type="button"
                  class="button button-secondary"
                  onClick={() => {
                    setQueryInput("");
                    setFilter({ query: "", role: Role.UNSPECIFIED });
                    setTokens([""]);
                  }}
                >
                  Clear search
                </button>
              </>
            ) : pageIndex > 0 ? (
              <>
                <h2>This page is empty now</h2>
                <p>Its users were deleted while you were looking.</p>
                <button type="button" class="button button-secondary" onClick={() => setTokens([""])}>
                  Back to the first page
                </button>
              </>
            ) : (
              <>
                <h2>No one here yet</h2>
                <p>Add the first person to the directory; they can then post in chat.</p>
                <button type="button" class="button button-primary" onClick={() => setDialog({ kind: "create" })}>
                  Create the first user
                </button>
              </>
            )}
          </div>
        )}
      </div>

      <nav class="pager" aria-label="Directory pages">
        <label class="inline-field">
          <span>Per page</span>
          <select
            value={String(pageSize)}
            onChange={(event) => {
              setPageSize(Number(event.currentTarget.value));
              setTokens([""]);
            }}
          >
            {PAGE_SIZES.map((size) => (
              <option key={size} value={String(size)}>
                {size}
              </option>
            ))}
          </select>
        </label>
        <span class="pager-position" aria-live="polite">
          Page {pageIndex + 1}
        </span>
        <button type="button" class="button button-secondary" disabled={pageIndex === 0} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous
        </button>
        <button
          type="button"
          class="button button-secondary"
          disabled={page === undefined || page.nextPageToken === ""}
          onClick={() => page !== undefined && setTokens([...tokens, page.nextPageToken])}
        >
          Next
        </button>
      </nav>

      {toast !== undefined && (
        <div class="toast" role="status">
          {toast}
        </div>
      )}

      {(dialog?.kind === "create" || dialog?.kind === "edit") && (
        <UserForm
          key={dialog.kind === "edit" ? dialog.user.id : "new"}
          clients={clients}
          editing={dialog.kind === "edit" ? dialog.user : undefined}
          latest={editingLatest}
          onClose={() => setDialog(undefined)}
          onSaved={(user) => {
            setDialog(undefined);
            setToast(dialog.kind === "edit" ? `Saved ${user.displayName}.` : `Created ${user.displayName}.`);
          }}
        />
      )}
      {dialog?.kind === "delete" && (
        <DeleteUser
          clients={clients}
          user={dialog.user}
          onClose={() => setDialog(undefined)}
          onDeleted={() => {
            setDialog(undefined);
            setToast(`Deleted ${dialog.user.displayName}.`);
          }}
        />
      )}
    </section>
  );
}

function SkeletonRows() {
  return (
    <>
      {[0, 1, 2, 3].map((index) => (
        <tr key={index} class="skeleton-row" aria-hidden="true">
          <td colSpan={5}>
            <span class="skeleton" />
          </td>
        </tr>
      ))}
    </>
  );
}

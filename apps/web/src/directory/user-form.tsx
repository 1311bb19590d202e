import { Code } from "@connectrpc/connect";
import { Role, type User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Clients } from "../api/clients.js";
import { readProblem } from "../api/rpc-errors.js";
import { ROLE_OPTIONS } from "../ui/format.js";
import { Modal } from "../ui/modal.js";

type FieldName = "display_name" | "email" | "roles";

interface Draft {
  readonly displayName: string;
  readonly email: string;
  readonly roles: readonly Role[];
}

/** A form-level problem: a conflict gets its own box with a way out. */
type FormProblem = { readonly kind: "conflict" | "gone" | "other"; readonly message: string } | undefined;

/**
 * Creating a user, or editing one with its etag: the save only applies if nobody changed the
 * user since the form was opened; otherwise the server answers ABORTED and the form says so.
 * The rules are the server's (from the .proto): the form shows each violation next to its field.
 */
export function UserForm(props: {
  readonly clients: Clients;
  /** The user as it was when the form opened; absent for a new user. */
  readonly editing?: User;
  /** The newest version the change feed has shown since (to warn before a conflict). */
  readonly latest?: User | undefined;
  readonly onClose: () => void;
  readonly onSaved: (user: User) => void;
}) {
  const [base, setBase] = useState<User | undefined>(props.editing);
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.editing));
  const [errors, setErrors] = useState<ReadonlyMap<FieldName, string>>(new Map());
  const [problem, setProblem] = useState<FormProblem>(undefined);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);

  const isEdit = base !== undefined;
  const changedElsewhere = isEdit && props.latest !== undefined && props.latest.etag !== base.etag;
  const titleId = isEdit ? "edit-user-title" : "new-user-title";

  const focusFirstInvalid = (fields: ReadonlyMap<FieldName, string>): void => {
    const first = (["display_name", "email", "roles"] as const).find((field) => fields.has(field));
    if (first === undefined) return;
    queueMicrotask(() => formRef.current?.querySelector<HTMLElement>(`[data-field="${first}"]`)?.focus());
  };

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setProblem(undefined);
    setErrors(new Map());
    try {
      const saved = isEdit ? await update(props.clients, base, draft) : await create(props.clients, draft);
      if (!mounted.current) return;
      props.onSaved(saved);
    } catch (error) {
      if (!mounted.current) return;
      const report = readProblem(error);
      const fields = new Map<FieldName, string>();
      for (const [path, description] of report.fields) {
        const field = fieldOf(path);
        if (field !== undefined && !fields.has(field)) fields.set(field, sentence(description));
      }
      if (report.code === Code.AlreadyExists) fields.set("email", "Another user already has this email address.");
      setErrors(fields);
      if (report.code === Code.Aborted) {
        setProblem({
          kind: "conflict",
          message: "Someone else changed this user while you were editing, so your changes were not saved.",
        });
      } else if (report.code === Code.NotFound) {
        setProblem({ kind: "gone", message: "This user no longer exists: someone deleted it." });
      } else if (fields.size === 0) {
        setProblem({ kind: "other", message: report.message });
      }
      focusFirstInvalid(fields);
    } finally {
      if (mounted.current) setBusy(false);
    }
  };

  const reloadLatest = async (): Promise<void> => {
    if (base === undefined) return;
    setBusy(true);
    try {
      const { user } = await props.clients.users.getUser({ id: base.id });
      if (!mounted.current || user === undefined) return;
      setBase(user);
      setDraft(draftOf(user));
      setErrors(new Map());
      setProblem(undefined);
      queueMicrotask(() => formRef.current?.querySelector<HTMLElement>(`[data-field="display_name"]`)?.focus());
    } catch (error) {
      if (mounted.current) setProblem({ kind: "other", message: readProblem(error).message });
    } finally {
      if (mounted.current) setBusy(false);
    }
  };

  const fieldProps = (field: FieldName) => ({
    "data-field": field,
    "aria-invalid": errors.has(field) ? ("true" as const) : undefined,
    "aria-describedby": errors.has(field) ? `${field}-error` : `${field}-hint`,
  });

  return (
    <Modal title={isEdit ? `Edit ${base.displayName}` : "New user"} titleId={titleId} onClose={props.onClose}>
      <form ref={formRef} class="form" noValidate onSubmit={(event) => void submit(event)} aria-busy={busy}>
        {changedElsewhere && problem === undefined && (
          <p class="notice notice-warn" role="status">
            This user was changed by someone else after you opened this form. Saving will be refused; reload to see their changes.
          </p>
        )}
        {problem !== undefined && (
          <div class={`notice ${problem.kind === "other" ? "notice-error" : "notice-warn"}`} role="alert" data-problem={problem.kind}>
            <p>{problem.message}</p>
            {problem.kind === "conflict" && (
              <button type="button" class="button button-secondary" onClick={() => void reloadLatest()} disabled={busy}>
                Load their version
              </button>
            )}
          </div>
        )}
        <div class="field">
          <label for="user-display-name">Name</label>
          <input
            id="user-display-name"
            name="display_name"
            autoComplete="name"
            // The dialog opens with the cursor in the first field (not on its Close button).
            autoFocus
            value={draft.displayName}
            onInput={(event) => setDraft({ ...draft, displayName: event.currentTarget.value })}
            {...fieldProps("display_name")}
          />
          <FieldMessage
            field="display_name"
            error={errors.get("display_name")}
            hint="How the person appears in the directory and in chat."
          />
        </div>
        <div class="field">
          <label for="user-email">Email</label>
          <input
            id="user-email"
            name="email"
            type="email"
            autoComplete="email"
            spellcheck={false}
            value={draft.email}
            onInput={(event) => setDraft({ ...draft, email: event.currentTarget.value })}
            {...fieldProps("email")}
          />
          <FieldMessage field="email" error={errors.get("email")} hint="Unique in the directory, any case." />
        </div>
        <fieldset
          class="field"
          aria-describedby={errors.has("roles") ? "roles-error" : "roles-hint"}
          aria-invalid={errors.has("roles") ? "true" : undefined}
        >
          <legend>Roles</legend>
          <div class="checkbox-row">
            {ROLE_OPTIONS.map((option, index) => (
              <label class="checkbox" key={option.role}>
                <input
                  type="checkbox"
                  name="roles"
                  value={String(option.role)}
                  checked={draft.roles.includes(option.role)}
                  data-field={index === 0 ? "roles" : undefined}
                  onChange={(event) =>
                    setDraft({
                      ...draft,
                      roles: event.currentTarget.checked
                        ? [...draft.roles, option.role].sort((a, b) => a - b)
                        : draft.roles.filter((role) => role !== option.role),
                    })
                  }
                />
                <span>
                  {option.label}
                  <small>{option.hint}</small>
                </span>
              </label>
            ))}
          </div>
          <FieldMessage field="roles" error={errors.get("roles")} hint={isEdit ? "At least one role." : "None checked: Member."} />
        </fieldset>
        <div class="form-actions">
          <button type="button" class="button button-secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? "Saving…" : isEdit ? "Save changes" : "Create user"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function FieldMessage({ field, error, hint }: { readonly field: FieldName; readonly error: string | undefined; readonly hint: string }) {
  return error !== undefined ? (
    <p id={`${field}-error`} class="field-error" data-error-for={field}>
      <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <circle cx="8" cy="8" r="7" fill="currentColor" />
        <path d="M8 4.5v4.2M8 11.2v.3" stroke="#fff" stroke-width="1.8" stroke-linecap="round" />
      </svg>
      {error}
    </p>
  ) : (
    <p id={`${field}-hint`} class="field-hint">
      {hint}
    </p>
  );
}

function draftOf(user: User | undefined): Draft {
  return { displayName: user?.displayName ?? "", email: user?.email ?? "", roles: [...(user?.roles ?? [])].sort((a, b) => a - b) };
}

/** "user.display_name", "roles[1]" -> the form field it is about. */
function fieldOf(path: string): FieldName | undefined {
  const last = path
    .replace(/\[\d+\]/g, "")
    .split(".")
    .pop();
  return last === "display_name" || last === "email" || last === "roles" ? last : undefined;
}

function sentence(description: string): string {
  const text = description.charAt(0).toUpperCase() + description.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

async function create(clients: Clients, draft: Draft): Promise<User> {
  const { user } = await clients.users.createUser({ displayName: draft.displayName, email: draft.email, roles: [...draft.roles] });
  if (user === undefined) throw new Error("the server returned no user");
  return user;
}

async function update(clients: Clients, base: User, draft: Draft): Promise<User> {
  const paths: string[] = [];
  if (draft.displayName !== base.displayName) paths.push("display_name");
  if (draft.email !== base.email) paths.push("email");
  if (draft.roles.join() !== [...base.roles].sort((a, b) => a - b).join()) paths.push("roles");
  if (paths.length === 0) return base;
  const { user } = await clients.users.updateUser({
    user: { id: base.id, etag: base.etag, displayName: draft.displayName, email: draft.email, roles: [...draft.roles] },
    updateMask: { paths },
  });
  if (user === undefined) throw new Error("the server returned no user");
  return user;
}

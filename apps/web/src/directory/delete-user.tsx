import { Code } from "@connectrpc/connect";
import type { User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useState } from "preact/hooks";
import type { Clients } from "../api/clients.js";
import { readProblem } from "../api/rpc-errors.js";
import { Modal } from "../ui/modal.js";

/** Asks before deleting; deletes with the etag shown, so a user changed meanwhile is kept. */
export function DeleteUser(props: {
  readonly clients: Clients;
  readonly user: User;
  readonly onClose: () => void;
  readonly onDeleted: (id: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const remove = async (): Promise<void> => {
    setBusy(true);
    setProblem(undefined);
    try {
      await props.clients.users.deleteUser({ id: props.user.id, etag: props.user.etag });
      props.onDeleted(props.user.id);
    } catch (error) {
      const report = readProblem(error);
      if (report.code === Code.NotFound) return props.onDeleted(props.user.id);
      setProblem(
        report.code === Code.Aborted
          ? "Someone changed this user after you opened it, so it was not deleted. Close this, check the latest version, and try again."
          : report.message,
      );
      setBusy(false);
    }
  };
  return (
    <Modal title="Delete user?" titleId="delete-user-title" describedBy="delete-user-text" onClose={props.onClose}>
      <div class="form">
        <p id="delete-user-text">
          <strong>{props.user.displayName}</strong> ({props.user.email}) will be removed from the directory. Their chat messages stay. This
          cannot be undone.
        </p>
        {problem !== undefined && (
          <p class="notice notice-error" role="alert">
            {problem}
          </p>
        )}
        <div class="form-actions">
          <button type="button" class="button button-secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button type="button" class="button button-danger" onClick={() => void remove()} disabled={busy}>
            {busy ? "Deleting…" : "Delete"}
          </button>
        </div>
      </div>
    </Modal>
  );
}

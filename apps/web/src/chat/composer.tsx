import { Code } from "@connectrpc/connect";
import type { User } from "@trellis/api/trellis/user/v1/user_pb.js";
import { useRef, useState } from "preact/hooks";
import { readProblem } from "../api/rpc-errors.js";

const MAX_TEXT = 2000;

/** Writes a message: Enter sends, Shift+Enter starts a new line. */
export function Composer(props: {
  readonly room: string;
  readonly sender: User | undefined;
  readonly send: (text: string) => Promise<void>;
  readonly onSenderGone: () => void;
}) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const length = [...text].length;
  const disabled = props.sender === undefined;

  const submit = async (): Promise<void> => {
    if (busy || disabled || text.trim() === "") return;
    setBusy(true);
    setProblem(undefined);
    try {
      await props.send(text);
      setText("");
    } catch (error) {
      const report = readProblem(error);
      if (report.code === Code.FailedPrecondition) {
        props.onSenderGone();
        setProblem("The person you were posting as is no longer in the directory. Choose someone else.");
      } else if (report.fields.size > 0) {
        setProblem(`Message not sent: ${[...report.fields.values()].join("; ")}.`);
      } else {
        setProblem(`Message not sent. ${report.message}`);
      }
    } finally {
      setBusy(false);
      inputRef.current?.focus();
    }
  };

  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <label for="composer-input" class="visually-hidden">
        Message #{props.room}
      </label>
      <textarea
        id="composer-input"
        ref={inputRef}
        rows={2}
        placeholder={disabled ? "Choose who you are posting as to write a message" : `Message #${props.room}`}
        value={text}
        disabled={disabled}
        aria-invalid={problem === undefined ? undefined : "true"}
        aria-describedby={problem === undefined ? "composer-hint" : "composer-error"}
        onInput={(event) => setText(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            void submit();
          }
        }}
      />
      <div class="composer-footer">
        {problem !== undefined ? (
          <p id="composer-error" class="field-error" role="alert">
            {problem}
          </p>
        ) : (
          <p id="composer-hint" class="field-hint">
            {length > MAX_TEXT - 200 ? `${MAX_TEXT - length} characters left` : "Enter to send, Shift+Enter for a new line"}
          </p>
        )}
        <button type="submit" class="button button-primary" disabled={busy || disabled || text.trim() === ""}>
          {busy ? "Sending…" : "Send"}
        </button>
      </div>
    </form>
  );
}

import type { ComponentChildren } from "preact";
import { useLayoutEffect, useRef, useState } from "preact/hooks";

/**
 * A modal dialog on the browser's own <dialog>: focus moves in and is trapped, Escape closes
 * it, and focus returns to what opened it — accessibility the platform does right.
 */
export function Modal(props: {
  readonly title: string;
  readonly titleId: string;
  readonly onClose: () => void;
  readonly children: ComponentChildren;
  readonly describedBy?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  // What had focus when the dialog was asked for (read while rendering it, before anything in it
  // can take focus): focus goes back there when it closes.
  const [opener] = useState(() => (document.activeElement instanceof HTMLElement ? document.activeElement : null));
  // Opened before the browser paints, so it is never on screen as a plain (non-modal) element.
  useLayoutEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    dialog.showModal();
    const cancel = (event: Event): void => {
      event.preventDefault();
      onClose.current();
    };
    dialog.addEventListener("cancel", cancel);
    return () => {
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open) dialog.close();
      if (opener?.isConnected === true) opener.focus();
    };
  }, []);
  return (
    <dialog ref={ref} class="modal" aria-labelledby={props.titleId} aria-describedby={props.describedBy}>
      <div class="modal-header">
        <h2 id={props.titleId}>{props.title}</h2>
        <button type="button" class="icon-button" aria-label="Close" onClick={() => onClose.current()}>
          <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
            <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
          </svg>
        </button>
      </div>
      {props.children}
    </dialog>
  );
}

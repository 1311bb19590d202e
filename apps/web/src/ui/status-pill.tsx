import type { LiveStatus } from "../live/live-stream.js";

/** Shows whether a live stream is connected; announced politely to screen readers. */
export function StatusPill({ status, label }: { readonly status: LiveStatus; readonly label: string }) {
  const [tone, text] = describe(status);
  return (
    <span class={`status-pill status-${tone}`} role="status" aria-live="polite" data-state={status.state} title={titleOf(status)}>
      <span class="status-dot" aria-hidden="true" />
      <span>
        <span class="visually-hidden">{label}: </span>
        {text}
      </span>
    </span>
  );
}

function describe(status: LiveStatus): [string, string] {
  switch (status.state) {
    case "live":
      return ["ok", "Live"];
    case "connecting":
      return ["pending", "Connecting…"];
    case "retrying":
      return ["warn", `Reconnecting in ${Math.max(1, Math.round(status.inMs / 1000))} s`];
    case "stopped":
      return ["error", "Offline"];
  }
}

function titleOf(status: LiveStatus): string {
  if (status.state === "retrying") return `Connection lost (${status.reason}); retry ${status.attempt}`;
  if (status.state === "stopped") return status.reason;
  return "";
}

import { hueOf, initials } from "./format.js";

/** A round badge with someone's initials, coloured by their id. */
export function Avatar({ id, name, size = "md" }: { readonly id: string; readonly name: string; readonly size?: "sm" | "md" }) {
  return (
    <span class={`avatar avatar-${size}`} aria-hidden="true" ref={(el) => el?.style.setProperty("--hue", String(hueOf(id)))}>
      {initials(name)}
    </span>
  );
}

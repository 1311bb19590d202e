/** A property the servers broke, with what shows it. */
export interface Violation {
  /** Which property: "no INTERNAL", "no hang", "no row written by a rejected call", … */
  readonly property: string;
  readonly detail: string;
}

/** A short printable view of a value (long strings and buffers abbreviated, NULs and controls escaped). */
export function show(value: unknown, max = 160): string {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === "bigint") return `${v}n`;
      if (v instanceof Uint8Array)
        return v.length > 48
          ? `<${v.length} bytes: ${Buffer.from(v.subarray(0, 48)).toString("hex")}…>`
          : `<hex ${Buffer.from(v).toString("hex")}>`;
      if (typeof v === "string" && v.length > max) return `${v.slice(0, 40)}…(${v.length} chars, ends ${JSON.stringify(v.slice(-8))})`;
      if (Array.isArray(v) && v.length > 20) return [...v.slice(0, 8), `…(${v.length} items)`];
      return v;
    });
    return text ?? String(value);
  } catch {
    return String(value); // not JSON (a cycle): the suite's own values have none
  }
}

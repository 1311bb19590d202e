import type { Violation } from "../oracle/violation.js";
import type { FuzzWorld } from "./fuzz-world.js";

/** What running one case showed. */
export interface CaseResult {
  readonly violations: readonly Violation[];
  /** The concrete input (Refs resolved) and how the servers answered, for the report. */
  readonly transcript: string;
}

/** The property a dead server process breaks. */
export const PROCESS_GONE = "the server process keeps running";

/** How long past a call's own deadline the suite waits before it calls the call hung. */
export const GRACE_MS = 5_000;

/**
 * A violation for each server process that is no longer running, with its
 * last output and the cases every lane ran last (the culprit is among them).
 */
export function processesAlive(world: FuzzWorld): Violation[] {
  return world.stack.processes.flatMap((p) => {
    const exit = p.exitStatus();
    if (exit === undefined) return [];
    const recent = [...world.recentCases.entries()].flatMap(([lane, cases]) =>
      cases.map((c, i) => `  lane ${lane}${i === cases.length - 1 ? " (running)" : ""}: ${c}`),
    );
    return [
      {
        property: PROCESS_GONE,
        detail: `${p.name} ended (${exit}); its last output:\n${p.logs.tail().join("\n")}\nthe cases each lane ran last:\n${recent.join("\n")}`,
      },
    ];
  });
}

import fc from "fast-check";
import { caseLabel, fuzzCaseArbitrary, type FuzzCase } from "../gen/fuzz-case.js";
import type { Violation } from "../oracle/violation.js";
import { auditBatch } from "./audit.js";
import { PROCESS_GONE, type CaseResult } from "./case-result.js";
import { executeCase } from "./execute-case.js";
import { deriveSeed, type FuzzConfig } from "./fuzz-config.js";
import { createFuzzWorld, type FuzzWorld } from "./fuzz-world.js";
import { createLane, type Lane } from "./lane.js";

/** A case that broke a property, shrunk (within the time allowed) and replayable. */
export interface CaseFailure {
  readonly kind: "case";
  readonly label: string;
  readonly violations: readonly Violation[];
  /** The shrunk case's input and outcome. */
  readonly transcript: string;
  readonly seed: number;
  readonly path: string;
  readonly shrinks: number;
  /** How many more cases failed the same way (not shrunk). */
  readonly repeats: () => number;
}

/** A batch audit that found something wrong. */
export interface AuditFailure {
  readonly kind: "audit";
  readonly batch: number;
  readonly violations: readonly Violation[];
}

/** What a run did and found. */
export interface FuzzReport {
  readonly seed: number;
  /** Cases generated and run (shrinking runs not counted). */
  readonly cases: number;
  /** Every execution, shrinking included. */
  readonly executions: number;
  readonly batches: number;
  /** Cases run per label ("valid UserService/CreateUser", "framing ChatService/Send", …). */
  readonly counts: ReadonlyMap<string, number>;
  readonly failures: readonly (CaseFailure | AuditFailure)[];
  readonly durationMs: number;
}

/** Thrown by the property so that fast-check records the case's result. */
class PropertyBroken extends Error {
  constructor(readonly result: CaseResult) {
    super(result.violations.map((v) => `${v.property}: ${v.detail}`).join("\n"));
  }
}

/** Groups failures by the properties broken and the kind of case (a dead process by itself: every lane sees it). */
function signature(label: string, violations: readonly Violation[]): string {
  const properties = [...new Set(violations.map((v) => v.property))].sort();
  return properties.includes(PROCESS_GONE) ? PROCESS_GONE : `${properties.join(" + ")} @ ${label}`;
}

/**
 * Runs the fuzz suite: starts the real processes, runs `config.runs` cases
 * over `config.lanes` concurrent lanes in rounds, audits after each round,
 * stops the processes (always), and reports.
 */
export async function runFuzz(config: FuzzConfig, log: (line: string) => void): Promise<FuzzReport> {
  const started = Date.now();
  const counts = new Map<string, number>();
  const failures: (CaseFailure | AuditFailure)[] = [];
  const repeatCounts = new Map<string, number>();
  let cases = 0;
  let executions = 0;
  let batches = 0;
  const world = await createFuzzWorld(config.serverLogDir);
  const lanes: Lane[] = [];
  const arbitrary = fuzzCaseArbitrary();

  const propertyFor = (lane: Lane, counted: boolean) =>
    fc.asyncProperty(arbitrary, async (c: FuzzCase) => {
      executions += 1;
      if (counted) {
        cases += 1;
        const label = caseLabel(c);
        counts.set(label, (counts.get(label) ?? 0) + 1);
      }
      const result = await executeCase(c, lane);
      if (result.violations.length > 0) throw new PropertyBroken(result);
    });

  /** Runs `numRuns` cases on `lane`; shrinks and records each failure, then goes on with the rest. */
  const runLane = async (lane: Lane, round: number, numRuns: number): Promise<void> => {
    let remaining = numRuns;
    for (let part = 0; remaining > 0 && failures.length < config.maxFailures && !processGone(world); part++) {
      const seed = deriveSeed(config.seed, round, lane.id, part);
      const details = await fc.check(propertyFor(lane, true), { seed, numRuns: remaining, endOnFailure: true });
      remaining -= details.numRuns;
      if (!details.failed) return;
      const first = (details.errorInstance as PropertyBroken).result;
      const label = caseLabel(details.counterexample![0]);
      const key = signature(label, first.violations);
      const repeats = repeatCounts.get(key);
      if (repeats !== undefined) {
        repeatCounts.set(key, repeats + 1);
        continue;
      }
      repeatCounts.set(key, 0);
      log(`lane ${lane.id}: ${signature(label, first.violations)}: ${first.violations[0]!.detail.slice(0, 300)}`);
      // Shrinking replays the case and smaller ones; pointless once a process is gone.
      const shrunk =
        config.shrinkMs > 0 && !processGone(world)
          ? await fc.check(propertyFor(lane, false), {
              seed,
              path: details.counterexamplePath!,
              endOnFailure: false,
              interruptAfterTimeLimit: config.shrinkMs,
            })
          : details;
      const best = shrunk.failed && shrunk.counterexample !== null ? shrunk : details;
      const result = best.errorInstance instanceof PropertyBroken ? best.errorInstance.result : first;
      const failure: CaseFailure = {
        kind: "case",
        label: caseLabel(best.counterexample![0]),
        violations: result.violations,
        transcript: result.transcript,
        seed,
        path: best.counterexamplePath!,
        shrinks: best.numShrinks,
        repeats: () => repeatCounts.get(key) ?? 0,
      };
      failures.push(failure);
      log(
        `lane ${lane.id}: FAILED ${failure.violations.map((v) => v.property).join(", ")} — replay with FUZZ_REPLAY=${seed}:${failure.path}`,
      );
    }
  };

  const audit = async (): Promise<void> => {
    batches += 1;
    const violations = await auditBatch(world, batches);
    if (violations.length > 0) {
      failures.push({ kind: "audit", batch: batches, violations });
      log(`audit ${batches}: ${violations.length} violation(s): ${violations[0]!.property}`);
    } else {
      log(`audit ${batches}: clean after ${cases} cases`);
    }
  };

  try {
    for (let i = 0; i < (config.replay === undefined ? config.lanes : 1); i++) lanes.push(createLane(i, world));
    if (config.replay !== undefined) {
      const { seed, path } = config.replay;
      const details = await fc.check(propertyFor(lanes[0]!, true), { seed, path, numRuns: 1, endOnFailure: true });
      if (details.failed) {
        const result = (details.errorInstance as PropertyBroken).result;
        failures.push({
          kind: "case",
          label: caseLabel(details.counterexample![0]),
          violations: result.violations,
          transcript: result.transcript,
          seed,
          path,
          shrinks: 0,
          repeats: () => 0,
        });
      }
      await audit();
    } else {
      const rounds = Math.ceil(config.runs / config.roundCases);
      const perLane = Math.ceil(config.runs / rounds / config.lanes);
      for (let round = 0; round < rounds && failures.length < config.maxFailures && !processGone(world); round++) {
        await Promise.all(lanes.map((lane) => runLane(lane, round, perLane)));
        await audit();
      }
    }
  } finally {
    for (const lane of lanes) lane.close();
    await world.close();
  }
  const shutdown = stopProblems(world);
  if (shutdown.length > 0) failures.push({ kind: "audit", batch: batches + 1, violations: shutdown });
  return { seed: config.seed, cases, executions, batches, counts, failures, durationMs: Date.now() - started };
}

function processGone(world: FuzzWorld): boolean {
  return world.stack.processes.some((p) => p.exitStatus() !== undefined);
}

/** After the stop: each process exited 0 on SIGTERM and logged nothing wrong on the way out. */
function stopProblems(world: FuzzWorld): Violation[] {
  return world.stack.processes.flatMap((p) => [
    ...(p.exitStatus() === "exit code 0"
      ? []
      : [{ property: "a clean shutdown", detail: `${p.name} ended with ${p.exitStatus() ?? "no exit"} on SIGTERM` }]),
    ...p.logs.takeProblems().map((problem) => ({
      property: "a clean server log",
      detail: `${p.name} ${problem.stream} during shutdown: ${problem.reason}: ${problem.line.slice(0, 600)}`,
    })),
  ]);
}

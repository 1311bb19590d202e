import type { FuzzReport } from "./fuzz-run.js";

const MAX_AUDIT_LINES = 40;

/** The run in a few lines: cases, time, how the cases spread over methods and families. */
export function formatSummary(report: FuzzReport): string {
  const byFamily = new Map<string, number>();
  for (const [label, n] of report.counts) {
    const family = label.split(" ")[0]!;
    byFamily.set(family, (byFamily.get(family) ?? 0) + n);
  }
  const labels = [...report.counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  return [
    `fuzz: ${report.cases} cases (${report.executions} executions with shrinking) in ${(report.durationMs / 1000).toFixed(1)} s, ${report.batches} audited batches, seed ${report.seed}`,
    `  by family: ${[...byFamily.entries()].map(([f, n]) => `${f} ${n}`).join(", ")}`,
    ...labels.map(([label, n]) => `  ${String(n).padStart(6)}  ${label}`),
  ].join("\n");
}

/** Every failure: the properties, the shrunk input and outcome, and how to replay it. */
export function formatFailures(report: FuzzReport): string {
  const lines: string[] = [];
  for (const failure of report.failures) {
    if (failure.kind === "case") {
      lines.push(
        `FAILED ${failure.label}${failure.repeats() > 0 ? ` (and ${failure.repeats()} more case(s) the same way)` : ""}:`,
        ...failure.violations.map((v) => `  ${v.property}: ${v.detail}`),
        `  counterexample (shrunk ${failure.shrinks} time(s)):`,
        ...failure.transcript.split("\n").map((l) => `    ${l}`),
        `  replay: FUZZ_SEED=${report.seed} FUZZ_REPLAY=${failure.seed}:${failure.path} npm run test:fuzz`,
        "",
      );
    } else {
      lines.push(`FAILED audit after batch ${failure.batch}:`);
      for (const v of failure.violations.slice(0, MAX_AUDIT_LINES)) lines.push(`  ${v.property}: ${v.detail}`);
      if (failure.violations.length > MAX_AUDIT_LINES) lines.push(`  … and ${failure.violations.length - MAX_AUDIT_LINES} more`);
      lines.push(`  (run again with FUZZ_SEED=${report.seed} to reproduce the batch)`, "");
    }
  }
  return lines.join("\n");
}

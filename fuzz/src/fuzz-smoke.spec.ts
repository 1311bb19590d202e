/**
 * A short run of the fuzz suite inside `npm test`: 300 cases against the real
 * processes, the same properties as `npm run test:fuzz` (FUZZ_SEED applies).
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFuzzConfig } from "./run/fuzz-config.js";
import { formatFailures, formatSummary } from "./run/fuzz-report.js";
import { runFuzz } from "./run/fuzz-run.js";

const SMOKE_RUNS = 300;

it(`user and chat survive ${SMOKE_RUNS} fuzz cases`, async (t) => {
  const config = readFuzzConfig(
    { ...process.env, FUZZ_RUNS: String(SMOKE_RUNS), FUZZ_ROUND: String(SMOKE_RUNS), FUZZ_REPLAY: "" },
    SMOKE_RUNS,
  );
  // Progress goes to stderr as it happens (test diagnostics only print once the test ends).
  const report = await runFuzz(config, (line) => process.stderr.write(`fuzz: ${line}\n`));
  for (const line of formatSummary(report).split("\n")) t.diagnostic(line);
  assert.equal(report.failures.length, 0, `\n${formatFailures(report)}`);
  assert.ok(report.cases >= SMOKE_RUNS, `ran ${report.cases} of ${SMOKE_RUNS} cases`);
});

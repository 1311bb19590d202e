/**
 * The fuzz suite (`npm run test:fuzz`): ≥ 10,000 random, mutated and
 * misframed calls to every method of UserService and ChatService, and random
 * HTTP/2 frames, against the real processes. FUZZ_SEED, FUZZ_RUNS, FUZZ_LANES
 * and FUZZ_REPLAY change what runs (see fuzz/README.md).
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFuzzConfig } from "./run/fuzz-config.js";
import { formatFailures, formatSummary } from "./run/fuzz-report.js";
import { runFuzz } from "./run/fuzz-run.js";

const config = readFuzzConfig(process.env, 10_000);

it(`user and chat survive ${config.replay === undefined ? `${config.runs} fuzz cases (seed ${config.seed})` : `the replayed case ${config.replay.seed}:${config.replay.path}`}`, async (t) => {
  // Progress goes to stderr as it happens (test diagnostics only print once the test ends).
  const report = await runFuzz(config, (line) => process.stderr.write(`fuzz: ${line}\n`));
  for (const line of formatSummary(report).split("\n")) t.diagnostic(line);
  assert.equal(report.failures.length, 0, `\n${formatFailures(report)}`);
  if (config.replay === undefined) assert.ok(report.cases >= config.runs, `ran ${report.cases} of ${config.runs} cases`);
});

/** How a fuzz run is set up: everything overridable from the environment so that any run can be replayed. */
export interface FuzzConfig {
  /** FUZZ_SEED: the run's base seed (each lane and round derives its own from it). */
  readonly seed: number;
  /** FUZZ_RUNS: cases to run in total (at least; rounded up to whole rounds). */
  readonly runs: number;
  /** FUZZ_LANES: cases run concurrently, one sequence per lane. */
  readonly lanes: number;
  /** FUZZ_ROUND: cases per round (all lanes); an audit follows every round. */
  readonly roundCases: number;
  /** FUZZ_MAX_FAILURES: stop scheduling new rounds after this many failures. */
  readonly maxFailures: number;
  /** FUZZ_SHRINK_MS: how long shrinking one failure may take. */
  readonly shrinkMs: number;
  /** FUZZ_SERVER_LOGS: a folder (that exists) to keep the servers' output in, as user.log and chat.log. */
  readonly serverLogDir: string | undefined;
  /** FUZZ_REPLAY="<seed>:<path>": run only that counterexample (as printed by a failed run). */
  readonly replay: { readonly seed: number; readonly path: string } | undefined;
}

/** The suite's fixed default seed: every CI run fuzzes the same cases unless FUZZ_SEED says otherwise. */
export const DEFAULT_SEED = 20_261_201;

/** Reads FUZZ_* from `env`, with `runs` as FUZZ_RUNS' default; throws one line naming a malformed variable. */
export function readFuzzConfig(env: Readonly<Record<string, string | undefined>>, runs: number): FuzzConfig {
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return value;
  };
  const replay = env["FUZZ_REPLAY"] ?? "";
  if (replay !== "" && !/^-?\d+:\d+(:\d+)*$/.test(replay))
    throw new Error(`FUZZ_REPLAY must be <seed>:<path> as printed by a failed run, e.g. 12345:7:0:1 (got "${replay}")`);
  const [seed, ...path] = replay.split(":");
  return {
    seed: integer("FUZZ_SEED", DEFAULT_SEED, -(2 ** 31), 2 ** 31 - 1),
    runs: integer("FUZZ_RUNS", runs, 1, 10_000_000),
    lanes: integer("FUZZ_LANES", 6, 1, 16),
    roundCases: integer("FUZZ_ROUND", 1000, 1, 10_000_000),
    maxFailures: integer("FUZZ_MAX_FAILURES", 12, 1, 1000),
    shrinkMs: integer("FUZZ_SHRINK_MS", 30_000, 0, 3_600_000),
    serverLogDir: env["FUZZ_SERVER_LOGS"] === undefined || env["FUZZ_SERVER_LOGS"] === "" ? undefined : env["FUZZ_SERVER_LOGS"],
    replay: replay === "" ? undefined : { seed: Number(seed), path: path.join(":") },
  };
}

/** A 32-bit seed for one (round, lane, part) of a run, from its base seed. */
export function deriveSeed(base: number, ...parts: readonly number[]): number {
  let h = base >>> 0;
  for (const part of parts) {
    h = Math.imul(h ^ (part + 0x9e3779b9), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h | 0;
}

/** A configuration value that is missing or malformed. The message is one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** The environment to read from. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads one variable into a typed value, throwing ConfigError when it is malformed. */
export type EnvReader<T> = (env: Env, name: string) => T;

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** An integer in [min, max]. */
export function integer(options: { readonly default: number; readonly min?: number; readonly max?: number }): EnvReader<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  return (env, name) => {
    const value = raw(env, name);
    if (value === undefined) return options.default;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new ConfigError(name, `${name} must be an integer from ${min} to ${max} (got "${value}")`);
    }
    return parsed;
  };
}

/** A TCP port, 0 meaning "pick a free one". */
export function port(defaultPort: number): EnvReader<number> {
  return integer({ default: defaultPort, min: 0, max: 65_535 });
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(allowed: readonly T[], defaultValue: T): EnvReader<T> {
  return (env, name) => {
    const value = raw(env, name);
    if (value === undefined) return defaultValue;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(name, `${name} must be one of ${allowed.join(", ")} (got "${value}")`);
    }
    return value as T;
  };
}

/** Any string, optionally checked against a pattern. */
export function text(options: { readonly default: string; readonly pattern?: RegExp; readonly expected?: string }): EnvReader<string> {
  return (env, name) => {
    const value = raw(env, name);
    if (value === undefined) return options.default;
    if (options.pattern !== undefined && !options.pattern.test(value)) {
      throw new ConfigError(name, `${name} must be ${options.expected ?? `like ${options.pattern}`} (got "${value}")`);
    }
    return value;
  };
}

/** An optional URL whose scheme is one of `schemes`; undefined when unset. */
export function optionalUrl(schemes: readonly string[]): EnvReader<string | undefined> {
  return (env, name) => {
    const value = raw(env, name);
    if (value === undefined) return undefined;
    let protocol: string;
    try {
      protocol = new URL(value).protocol.replace(/:$/, "");
    } catch {
      throw new ConfigError(name, `${name} must be a URL like ${schemes[0]}://host/path (got an unparsable value)`);
    }
    if (!schemes.includes(protocol)) {
      throw new ConfigError(name, `${name} must use the scheme ${schemes.join(" or ")} (got "${protocol}")`);
    }
    return value;
  };
}

/** A typed configuration: one reader per variable name. */
export type ConfigSpec = Readonly<Record<string, EnvReader<unknown>>>;

/** The values a spec reads. */
export type ConfigOf<S extends ConfigSpec> = { readonly [K in keyof S]: S[K] extends EnvReader<infer T> ? T : never };

/**
 * Reads every variable of the spec. Throws the first ConfigError; services print
 * its message and exit non-zero (see `exitOnConfigError`).
 */
export function readConfig<S extends ConfigSpec>(spec: S, env: Env = process.env): ConfigOf<S> {
  const result: Record<string, unknown> = {};
  for (const [name, read] of Object.entries(spec)) result[name] = read(env, name);
  return result as ConfigOf<S>;
}

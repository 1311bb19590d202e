import { Counter, Gauge } from "prom-client";
import type { Discovery, ServiceInstance } from "../discovery/registry.js";
import type { MetricsRegistry } from "../observability/grpc-metrics.js";
import type { BreakerRegistry } from "../resilience/breaker-registry.js";
import type { RetryCounters, RetryStats } from "../resilience/retry-stats.js";

/** What one client lets its metrics read. */
export interface ClientMetricsSource {
  /** The client's target as it was created (`static:///user`, `etcd:///user`, `localhost:50051`): the `target` label. */
  readonly target: string;
  /** Its breakers (read at scrape time). @default none: no breaker series */
  readonly breakers?: BreakerRegistry | undefined;
  /** Its retry counters (read at scrape time). @default none: no retry series */
  readonly retryStats?: RetryStats | undefined;
}

/** One client's link to its metrics, as {@link ClientMetrics.observe} returns it. */
export interface ClientObserver {
  /**
   * Counts a call (an attempt: each retry is one) that reached `endpoint`
   * (`host:port`, the subchannel grpc-js picked). A map increment: the counter
   * is brought up to date at scrape time.
   */
  picked(endpoint: string): void;
  /** Exports what the client counted since the last scrape, then stops reading it (its series stay). */
  close(): void;
}

/** The kit's client metrics of a process, in one registry. */
export interface ClientMetrics {
  readonly registry: MetricsRegistry;
  /** Starts reading a client's breakers, retry counters and picks; `createClient({ metrics })` calls it. */
  observe(source: ClientMetricsSource): ClientObserver;
  /**
   * `discovery`, reporting the size of each instance set its watches yield as
   * `trellis_registry_instances{service}` (the set a resolver last saw). Keeps
   * the registry's `scheme`, which the resolver checks.
   */
  discovery(discovery: Discovery): Discovery;
}

interface Observed {
  readonly target: string;
  readonly breakers: BreakerRegistry | undefined;
  readonly retryStats: RetryStats | undefined;
  /** Calls per endpoint since the client was created: the hot path only adds here. */
  readonly picks: Map<string, number>;
  /** Per series (`family\0labels`), the total already added to the counter. */
  readonly exported: Map<string, number>;
}

type Labels = Record<string, string>;

/** A counter family fed from totals the clients keep: at scrape time, each series grows by what it gained. */
interface DeltaFamily {
  readonly name: string;
  readonly counter: Counter<string>;
  series(observed: Observed, emit: (labels: Labels, total: number) => void): void;
}

/**
 * Registers the client kit's families in `registry` (the process' one
 * registry, never prom-client's global one):
 *
 * - `trellis_breaker_state{target, method}`: 0 closed, 1 throttling;
 * - `trellis_breaker_rejections_total{target, method}`: calls the breaker refused;
 * - `trellis_retry_attempts_total`, `trellis_retry_retries_total`,
 *   `trellis_retry_budget_exhausted_total` `{target}`;
 * - `trellis_balancer_picks_total{target, endpoint}`: calls per endpoint;
 * - `trellis_registry_instances{service}`: the instance set last seen.
 *
 * Breakers and retries are read from their snapshots when Prometheus scrapes,
 * and picks are a map increment per call, so a call pays no prom-client label
 * hashing. Call it once per registry (prom-client refuses a family twice).
 */
export function createClientMetrics(registry: MetricsRegistry): ClientMetrics {
  const registers = [registry];
  const observed = new Set<Observed>();

  new Gauge({
    name: "trellis_breaker_state",
    help: "Client circuit breaker state per target and method: 0 closed (every call goes through), 1 throttling (the SRE breaker rejects a share of calls locally).",
    labelNames: ["target", "method"],
    registers,
    collect() {
      this.reset();
      const states = new Map<string, { labels: Labels; value: number }>();
      for (const client of observed) {
        for (const [key, snapshot] of Object.entries(client.breakers?.snapshot() ?? {})) {
          const labels = breakerLabels(client.target, key);
          const value = snapshot.state === "throttling" ? 1 : 0;
          const id = `${labels["target"]}\u0000${labels["method"]}`;
          const seen = states.get(id);
          if (seen === undefined || value > seen.value) states.set(id, { labels, value });
        }
      }
      for (const { labels, value } of states.values()) this.set(labels, value);
    },
  });

  const families: DeltaFamily[] = [];
  /** A counter whose series are the clients' totals, brought up to date when scraped. */
  const deltaCounter = (name: string, help: string, labelNames: readonly string[], series: DeltaFamily["series"]): void => {
    const family: DeltaFamily = {
      name,
      counter: new Counter({ name, help, labelNames, registers, collect: () => exportFamily(family) }),
      series,
    };
    families.push(family);
  };
  const retry =
    (event: keyof RetryCounters): DeltaFamily["series"] =>
    (client, emit) => {
      if (client.retryStats !== undefined) emit({ target: client.target }, client.retryStats.snapshot()[event]);
    };
  deltaCounter(
    "trellis_breaker_rejections_total",
    "Calls the client circuit breaker refused without sending them (UNAVAILABLE, ErrorInfo CIRCUIT_OPEN), per target and method.",
    ["target", "method"],
    (client, emit) => {
      for (const [key, snapshot] of Object.entries(client.breakers?.snapshot() ?? {}))
        emit(breakerLabels(client.target, key), snapshot.totalDrops);
    },
  );
  deltaCounter(
    "trellis_retry_attempts_total",
    "Client attempts sent per target, first attempts included (a call retried twice is three).",
    ["target"],
    retry("attempts"),
  );
  deltaCounter(
    "trellis_retry_retries_total",
    "Client attempts per target that were retries (attempts after the first).",
    ["target"],
    retry("retries"),
  );
  deltaCounter(
    "trellis_retry_budget_exhausted_total",
    "Client retries per target that the retry budget refused (the backend was failing broadly).",
    ["target"],
    retry("budgetExhausted"),
  );
  deltaCounter(
    "trellis_balancer_picks_total",
    "Client calls per target and endpoint (host:port) they were sent to, each attempt counted once, whatever the load-balancing policy.",
    ["target", "endpoint"],
    (client, emit) => {
      for (const [endpoint, total] of client.picks) emit({ target: client.target, endpoint }, total);
    },
  );

  const instances = new Gauge({
    name: "trellis_registry_instances",
    help: "Instances of each service in the set the registry last gave a client's resolver watch (0: every call to it fails).",
    labelNames: ["service"],
    registers,
  });

  /** Adds to each of the family's series what it gained since the last export. */
  const exportClient = (family: DeltaFamily, client: Observed): void => {
    family.series(client, (labels, total) => {
      const id = `${family.name}\u0000${Object.values(labels).join("\u0000")}`;
      const before = client.exported.get(id);
      // A new series is exported at 0, so rate() has a start and alerts see it.
      if (before !== undefined && total <= before) return;
      family.counter.inc(labels, total - (before ?? 0));
      client.exported.set(id, total);
    });
  };
  const exportFamily = (family: DeltaFamily): void => {
    for (const client of observed) exportClient(family, client);
  };

  return {
    registry,
    observe(source) {
      const client: Observed = {
        target: source.target,
        breakers: source.breakers,
        retryStats: source.retryStats,
        picks: new Map(),
        exported: new Map(),
      };
      observed.add(client);
      return {
        picked(endpoint) {
          client.picks.set(endpoint, (client.picks.get(endpoint) ?? 0) + 1);
        },
        close() {
          if (!observed.delete(client)) return;
          for (const family of families) exportClient(family, client);
        },
      };
    },
    discovery(discovery) {
      const scheme = (discovery as { readonly scheme?: unknown }).scheme;
      return {
        ...(typeof scheme === "string" ? { scheme } : {}),
        watch: (service, signal) => counted(service, discovery.watch(service, signal), instances),
      };
    },
  };
}

/** `<target> <package.Service/Method>` (the breaker interceptor's default key) as labels. */
function breakerLabels(target: string, key: string): Labels {
  const prefix = `${target} `;
  if (key.startsWith(prefix)) return { target, method: key.slice(prefix.length) };
  // A custom keyOf: the key is all there is to say which breaker it is.
  return { target, method: key };
}

async function* counted(
  service: string,
  sets: AsyncIterable<readonly ServiceInstance[]>,
  gauge: Gauge<"service">,
): AsyncIterable<readonly ServiceInstance[]> {
  for await (const set of sets) {
    gauge.set({ service }, set.length);
    yield set;
  }
}

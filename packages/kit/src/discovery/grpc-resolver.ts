/**
 * The bridge from a Trellis `Discovery` to grpc-js name resolution, so a channel
 * follows membership changes without a restart (grpc-node #2455, #1663: new pods not
 * picked up). A `watch()` yields full instance sets; each becomes the channel's
 * endpoint list, and grpc-js' balancer connects to new endpoints and drops gone ones.
 *
 * Targets (after `registerTrellisResolvers()`):
 * - `etcd:///user`, `consul:///user`: the Discovery passed with `discoveryChannelOptions`.
 * - `trellis-dns:///user.service.consul`, `trellis-dns:///user:50051`,
 *   `trellis-dns:///_grpc._tcp.user.default.svc.cluster.local`: the same for a Trellis DNS
 *   Discovery. grpc-js' own `dns:` resolver stays untouched, so plain `dns:///host:port`
 *   targets keep working.
 * - `static:///10.0.0.1:50051,[::1]:50051`: inline addresses, no Discovery needed;
 *   `static:///user` (a bare name) watches the Discovery passed in, if any.
 *
 * How the resolver gets its Discovery: grpc-js constructs resolvers itself, from
 * (target, listener, channel options) only, so the instance travels as an
 * object-valued channel option. Its key starts with grpc-js' exported
 * `SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX`, so it is stripped before subchannel creation:
 * the subchannel pool, which compares options with `===`, never sees it, and channels
 * with different Discovery instances still share connections to the same address.
 * No id registry and no module state: the option is the reference.
 */
import * as grpc from "@grpc/grpc-js";
import { assertLoadBalancingConfig } from "../balancer/service-config.js";
import type { Discovery, ServiceInstance } from "./registry.js";
import { parseHostPort, type HostPort } from "./static-registry.js";

/** grpc-js' parsed target (`GrpcUri`, not exported by name from the package root). */
interface ResolverTarget {
  readonly scheme?: string;
  readonly authority?: string;
  readonly path: string;
}
type Endpoint = grpc.experimental.Endpoint;

/** The channel option carrying the Discovery (stripped from subchannel options by grpc-js). */
export const DISCOVERY_CHANNEL_OPTION = `${grpc.experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.trellis.discovery`;

/** URI schemes served by the Trellis resolvers. */
export const TRELLIS_RESOLVER_SCHEMES = ["etcd", "consul", "static", "trellis-dns"] as const;

/** The option value: the Discovery plus a `toJSON`, because grpc-js logs its options as JSON when tracing. */
interface DiscoveryHandle {
  readonly discovery: Discovery;
  toJSON(): string;
}

/**
 * Channel options that hand `discovery` to the Trellis resolvers; spread them into
 * `channelOptions` of `createClient` for `etcd:`, `consul:` and `trellis-dns:` targets:
 *
 * ```ts
 * registerTrellisResolvers();
 * createClient(UserService, "etcd:///user", { channelOptions: { ...discoveryChannelOptions(registry) } });
 * ```
 */
export function discoveryChannelOptions(discovery: Discovery): grpc.ChannelOptions {
  const handle: DiscoveryHandle = { discovery, toJSON: () => "[trellis Discovery]" };
  return { [DISCOVERY_CHANNEL_OPTION]: handle };
}

/**
 * Registers the Trellis resolvers with grpc-js for the schemes in
 * {@link TRELLIS_RESOLVER_SCHEMES} (grpc-js' resolver registry is global). Idempotent:
 * registering the same class again changes nothing. Never touches `dns`.
 * Without it, grpc-js would hand `etcd:///user` to its default DNS resolver and fail with a
 * confusing lookup error, so call it once at start-up, before creating clients.
 */
export function registerTrellisResolvers(): void {
  for (const scheme of TRELLIS_RESOLVER_SCHEMES) grpc.experimental.registerResolver(scheme, DiscoveryResolver);
}

/**
 * Parses `host:port[,host:port...]` with IPv6 hosts in brackets (`[::1]:50051`),
 * with the one host:port parser of the kit (`parseHostPort`). Throws with the
 * offending entry on anything else (a missing port included).
 */
export function parseAddressList(list: string): readonly HostPort[] {
  return list.split(",").map((item) => {
    const address = parseHostPort(item.trim());
    if (address === undefined) {
      throw new Error(`static target: "${item}" is not host:port (expected e.g. static:///10.0.0.1:50051,[::1]:50051)`);
    }
    return address;
  });
}

/** What a target resolves from: fixed endpoints, or a Discovery watch. */
type Plan =
  | { readonly kind: "inline"; readonly endpoints: readonly Endpoint[] }
  | { readonly kind: "watch"; readonly discovery: Discovery; readonly service: string; readonly label: string };

function targetString(target: ResolverTarget): string {
  return `${target.scheme ?? ""}:${target.authority === undefined ? "" : `//${target.authority}/`}${target.path}`;
}

function planFor(target: ResolverTarget, options: grpc.ChannelOptions): Plan {
  const text = targetString(target);
  if (target.authority) {
    throw new Error(
      `${text}: an authority is not supported; the registry address comes from the Discovery in the channel options (use ${target.scheme}:///${target.path})`,
    );
  }
  const path = target.path;
  if (target.scheme === "static" && /[:,]/.test(path)) {
    return { kind: "inline", endpoints: parseAddressList(path).map((address) => ({ addresses: [address] })) };
  }
  // DNS names may carry a port (`user:50051`) or be SRV names (`_grpc._tcp.user…`); the
  // DNS Discovery checks them in detail. Registry targets name a service.
  const name =
    target.scheme === "trellis-dns" ? /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/ : /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
  if (!name.test(path)) throw new Error(`${text}: "${path}" is not a ${target.scheme === "trellis-dns" ? "DNS name" : "service name"}`);
  const handle = options[DISCOVERY_CHANNEL_OPTION] as DiscoveryHandle | undefined;
  if (handle === undefined || typeof handle.discovery?.watch !== "function") {
    const hint = target.scheme === "static" ? " (or list addresses inline: static:///host:port,host:port)" : "";
    throw new Error(`${text} needs a Discovery: pass discoveryChannelOptions(discovery) in channelOptions${hint}`);
  }
  // A Registry knows its scheme; a target naming another backend is a wiring mistake.
  const expected = target.scheme === "trellis-dns" ? "dns" : target.scheme;
  const actual = (handle.discovery as { readonly scheme?: unknown }).scheme;
  if (typeof actual === "string" && actual !== expected) {
    throw new Error(`${text}: the Discovery in the channel options is a "${actual}" registry, not "${expected}"`);
  }
  return { kind: "watch", discovery: handle.discovery, service: path, label: text };
}

function toEndpoints(instances: readonly ServiceInstance[]): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const { host, port } of instances) seen.set(`${host}|${port}`, { addresses: [{ host, port }] });
  return [...seen.values()];
}

function endpointsKey(endpoints: readonly Endpoint[]): string {
  return endpoints
    .map((endpoint) => grpc.experimental.endpointToString(endpoint))
    .sort()
    .join(" ");
}

function unavailable(details: string): grpc.experimental.StatusOr<Endpoint[]> {
  return grpc.experimental.statusOrFromError({ code: grpc.status.UNAVAILABLE, details });
}

/**
 * One resolver per channel. Watches lazily, from the first `updateResolution` (grpc-js
 * calls it when the channel leaves IDLE), and stops on `destroy` (channel closed or
 * gone idle); a later `updateResolution` watches again.
 */
class DiscoveryResolver implements grpc.experimental.Resolver {
  private readonly plan: Plan;
  private readonly backoff: grpc.experimental.BackoffTimeout;
  private watch: AbortController | undefined;
  private restartWhenBackoffEnds = false;
  private lastKey: string | undefined;

  constructor(
    target: ResolverTarget,
    private readonly listener: grpc.experimental.ResolverListener,
    options: grpc.ChannelOptions,
  ) {
    // Throwing here fails the channel (and createClient) at once: a bad target or a
    // misspelled policy should never become a hang or a silent pick_first.
    this.plan = planFor(target, options);
    assertLoadBalancingConfig(options);
    // grpc-js asks for resolution on every call that meets a failed channel; without
    // this, a registry that fails fast would get one new watch per call.
    this.backoff = new grpc.experimental.BackoffTimeout(
      () => {
        if (!this.restartWhenBackoffEnds) return;
        this.restartWhenBackoffEnds = false;
        this.updateResolution();
      },
      { initialDelay: options["grpc.initial_reconnect_backoff_ms"], maxDelay: options["grpc.max_reconnect_backoff_ms"] },
    );
    this.backoff.unref();
  }

  static getDefaultAuthority(target: ResolverTarget): string {
    // The :authority header: the first address for inline targets, else the service name.
    return target.path.split(",")[0]!;
  }

  updateResolution(): void {
    if (this.watch !== undefined) return; // a live watch already reports every change
    if (this.backoff.isRunning()) {
      this.restartWhenBackoffEnds = true;
      return;
    }
    this.backoff.runOnce();
    const controller = new AbortController();
    this.watch = controller;
    if (this.plan.kind === "inline") {
      const endpoints = [...this.plan.endpoints];
      // Never call the listener synchronously from updateResolution (Resolver contract).
      setImmediate(() => {
        if (!controller.signal.aborted) this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");
      });
      return;
    }
    void this.follow(this.plan, controller);
  }

  destroy(): void {
    this.watch?.abort();
    this.watch = undefined;
    this.lastKey = undefined;
    this.restartWhenBackoffEnds = false;
    this.backoff.stop();
    this.backoff.reset();
  }

  private async follow(plan: Extract<Plan, { kind: "watch" }>, controller: AbortController): Promise<void> {
    const { signal } = controller;
    let failure: string;
    try {
      for await (const instances of plan.discovery.watch(plan.service, signal)) {
        if (signal.aborted) return;
        this.report(plan, instances);
      }
      failure = `${plan.label}: the discovery watch for ${plan.service} ended`;
    } catch (error) {
      failure = `${plan.label}: discovery of ${plan.service} failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (signal.aborted) return;
    // Marked as ended before reporting, so the updateResolution that grpc-js may call
    // in reaction (on this stack or later, when calls fail) starts a new watch.
    this.watch = undefined;
    this.fail(failure);
  }

  private report(plan: Extract<Plan, { kind: "watch" }>, instances: readonly ServiceInstance[]): void {
    // The backend answered: a later failure starts its backoff from the beginning.
    this.backoff.stop();
    this.backoff.reset();
    const endpoints = toEndpoints(instances);
    const key = endpointsKey(endpoints);
    if (key === this.lastKey) return; // backends re-yield unchanged sets (TTL refresh, blocking-query timeout)
    this.lastKey = key;
    if (endpoints.length > 0) {
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");
      return;
    }
    // An empty set takes two reports. The empty list makes the balancer drop every old
    // endpoint (on an error alone, balancers keep the last good list and keep calling
    // deregistered instances). But grpc-js 1.14's round_robin then settles in IDLE with a
    // queueing picker, so calls would hang until their deadline; the error that follows
    // finds no endpoints and moves it to TRANSIENT_FAILURE, failing calls at once with
    // UNAVAILABLE and this message (wait_for_ready calls keep waiting, as they should).
    const note = `no instances of ${plan.service} (${plan.label})`;
    this.listener(grpc.experimental.statusOrFromValue([]), {}, null, note);
    this.listener(unavailable(note), {}, null, note);
  }

  private fail(details: string): void {
    this.lastKey = undefined;
    this.listener(unavailable(details), {}, null, details);
  }
}

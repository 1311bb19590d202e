/**
 * The `p2c_ewma` load-balancing policy for grpc-js: one LeafLoadBalancer child per
 * endpoint (as grpc-js' round_robin), but each call goes to the better of two READY
 * endpoints drawn at random, scored by latency EWMA and in-flight calls
 * (see `p2c-ewma-picker.ts`). Unlike round_robin, children and their load state
 * survive a resolver update for endpoints that stay, so a membership change does not
 * reset what was measured.
 *
 * grpc-js instantiates policies with `new`, hence the classes here.
 */
import * as grpc from "@grpc/grpc-js";
import { createP2cEwmaChooser, type CallOutcome, type EndpointLoad, type P2cEwmaChooser, type P2cEwmaOptions } from "./p2c-ewma-picker.js";

const { connectivityState: ConnectivityState, status: Status } = grpc;
const {
  LeafLoadBalancer,
  PickResultType,
  QueuePicker,
  UnavailablePicker,
  createChildChannelControlHelper,
  endpointToString,
  registerLoadBalancerType,
} = grpc.experimental;
type LeafLoadBalancer = InstanceType<typeof grpc.experimental.LeafLoadBalancer>;

/** The policy's name in `loadBalancingConfig`. */
export const P2C_EWMA_POLICY = "p2c_ewma";

/** JSON-configurable tunables: `{"p2c_ewma":{"decayMs":10000,"probeAfterMs":1000,"failurePenaltyMs":1000}}`. */
type P2cEwmaJsonConfig = Pick<P2cEwmaOptions, "decayMs" | "probeAfterMs" | "failurePenaltyMs">;
const TUNABLES = ["decayMs", "probeAfterMs", "failurePenaltyMs"] as const;

/**
 * Statuses that say the endpoint failed the call (rather than the application
 * answering with an error): recorded as a latency penalty.
 */
const ENDPOINT_FAILURES: ReadonlySet<grpc.status> = new Set([
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.RESOURCE_EXHAUSTED,
  Status.INTERNAL,
  Status.UNKNOWN,
  Status.DATA_LOSS,
]);

function outcomeOf(code: grpc.status): CallOutcome {
  if (code === Status.CANCELLED) return "cancelled";
  return ENDPOINT_FAILURES.has(code) ? "failed" : "ok";
}

class P2cEwmaLoadBalancingConfig implements grpc.experimental.TypedLoadBalancingConfig {
  constructor(readonly tunables: P2cEwmaJsonConfig) {}
  getLoadBalancerName(): string {
    return P2C_EWMA_POLICY;
  }
  toJsonObject(): object {
    return { [P2C_EWMA_POLICY]: { ...this.tunables } };
  }
  /** Rejects unknown keys and non-positive numbers: a typo must not pass as a default. */
  static createFromJson(json: unknown): P2cEwmaLoadBalancingConfig {
    const object = json ?? {};
    if (typeof object !== "object" || Array.isArray(object)) throw new Error("config must be an object");
    const tunables: Record<string, number> = {};
    for (const [key, value] of Object.entries(object)) {
      if (!(TUNABLES as readonly string[]).includes(key)) throw new Error(`unknown field "${key}" (known: ${TUNABLES.join(", ")})`);
      if (typeof value !== "number" || !(value > 0)) throw new Error(`"${key}" must be a positive number of milliseconds`);
      tunables[key] = value;
    }
    return new P2cEwmaLoadBalancingConfig(tunables);
  }
}

interface Child {
  readonly leaf: LeafLoadBalancer;
  readonly load: EndpointLoad;
}

/** Picks among READY children with p2c-EWMA and accounts each call on the chosen one. */
function createP2cPicker(ready: readonly Child[], chooser: P2cEwmaChooser): grpc.experimental.Picker {
  // The children's READY pickers, taken now (as round_robin does): if a child drops out
  // before this picker is replaced, its subchannel is no longer READY and grpc-js re-picks.
  const candidates = ready.map((child) => ({ load: child.load, picker: child.leaf.getPicker() }));
  return {
    pick(args) {
      const child = chooser.choose(candidates, (candidate) => candidate.load)!;
      const result = child.picker.pick(args);
      if (result.pickResultType !== PickResultType.COMPLETE) return result;
      const { onCallStarted, onCallEnded } = result;
      // Counted from onCallStarted, not from the pick: grpc-js may re-pick before the
      // call starts (subchannel lost after credentials), and onCallEnded only follows a start.
      let end: ((outcome: CallOutcome) => void) | undefined;
      return {
        ...result,
        onCallStarted: () => {
          onCallStarted?.();
          end = child.load.callStarted();
        },
        onCallEnded: (code, details, metadata) => {
          onCallEnded?.(code, details, metadata);
          end?.(outcomeOf(code));
        },
      };
    },
  };
}

class P2cEwmaLoadBalancer implements grpc.experimental.LoadBalancer {
  private children = new Map<string, Child>();
  private chooser: P2cEwmaChooser = createP2cEwmaChooser();
  private tunablesKey = "";
  private currentState: grpc.connectivityState = ConnectivityState.IDLE;
  private updatesPaused = false;
  private lastError: string | null = null;
  private readonly childHelper: grpc.experimental.ChannelControlHelper;

  constructor(private readonly helper: grpc.experimental.ChannelControlHelper) {
    this.childHelper = createChildChannelControlHelper(helper, {
      updateState: (state, _picker, errorMessage) => {
        // As round_robin: a connection lost while READY may mean the endpoint is gone, so
        // ask the resolver for fresh data (a no-op for a live discovery watch).
        if (this.currentState === ConnectivityState.READY && state !== ConnectivityState.READY) helper.requestReresolution();
        if (errorMessage) this.lastError = errorMessage;
        this.calculateAndUpdateState();
      },
    });
  }

  updateAddressList(
    endpoints: grpc.experimental.StatusOr<grpc.experimental.Endpoint[]>,
    config: grpc.experimental.TypedLoadBalancingConfig,
    options: grpc.ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(config instanceof P2cEwmaLoadBalancingConfig)) return false;
    this.configure(config.tunables);
    if (!endpoints.ok) {
      // As round_robin: a resolver error keeps the last good endpoints; it only
      // matters when there are none.
      if (this.children.size === 0)
        this.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker(endpoints.error), endpoints.error.details);
      return true;
    }
    const previous = this.children;
    this.children = new Map();
    this.updatesPaused = true;
    for (const endpoint of endpoints.value) {
      const key = endpointToString(endpoint);
      if (this.children.has(key)) continue;
      const kept = previous.get(key);
      previous.delete(key);
      if (kept) {
        kept.leaf.updateEndpoint(endpoint, options);
        this.children.set(key, kept);
      } else {
        const leaf = new LeafLoadBalancer(endpoint, this.childHelper, options, resolutionNote);
        this.children.set(key, { leaf, load: this.chooser.track() });
        leaf.startConnecting();
      }
    }
    for (const removed of previous.values()) removed.leaf.destroy();
    this.updatesPaused = false;
    if (this.children.size === 0) {
      const message = `p2c_ewma: no addresses resolved${resolutionNote ? ` (${resolutionNote})` : ""}`;
      this.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details: message }), message);
      return true;
    }
    this.calculateAndUpdateState();
    return true;
  }

  exitIdle(): void {
    // Children are kept connected by calculateAndUpdateState, as in round_robin.
  }

  resetBackoff(): void {
    // No backoff of its own; the children's subchannels own theirs.
  }

  destroy(): void {
    for (const child of this.children.values()) child.leaf.destroy();
    this.children.clear();
  }

  getTypeName(): string {
    return P2C_EWMA_POLICY;
  }

  /** A changed config restarts the measurements (they were taken under other rules). */
  private configure(tunables: P2cEwmaJsonConfig): void {
    const key = JSON.stringify(tunables);
    if (key === this.tunablesKey) return;
    this.tunablesKey = key;
    this.chooser = createP2cEwmaChooser(tunables);
    for (const [endpoint, child] of this.children) this.children.set(endpoint, { leaf: child.leaf, load: this.chooser.track() });
  }

  private calculateAndUpdateState(): void {
    if (this.updatesPaused) return;
    const children = [...this.children.values()];
    const ready = children.filter((child) => child.leaf.getConnectivityState() === ConnectivityState.READY);
    const any = (state: grpc.connectivityState): boolean => children.some((child) => child.leaf.getConnectivityState() === state);
    if (ready.length > 0) {
      this.updateState(ConnectivityState.READY, createP2cPicker(ready, this.chooser), null);
    } else if (any(ConnectivityState.CONNECTING)) {
      this.updateState(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    } else if (any(ConnectivityState.TRANSIENT_FAILURE)) {
      const message = `p2c_ewma: no connection established. Last error: ${this.lastError}`;
      this.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details: message }), message);
    } else {
      this.updateState(ConnectivityState.IDLE, new QueuePicker(this), null);
    }
    // Keep every endpoint connected so that a pick never waits for a handshake.
    for (const child of children) if (child.leaf.getConnectivityState() === ConnectivityState.IDLE) child.leaf.exitIdle();
  }

  private updateState(state: grpc.connectivityState, picker: grpc.experimental.Picker, errorMessage: string | null): void {
    this.currentState = state;
    this.helper.updateState(state, picker, errorMessage);
  }
}

/**
 * Registers the `p2c_ewma` policy with grpc-js (whose policy registry is global).
 * Idempotent: registering the same classes again changes nothing. Call it once at
 * start-up, before creating clients that select it with `serviceConfigFor("p2c_ewma")`.
 */
export function registerP2cEwma(): void {
  registerLoadBalancerType(P2C_EWMA_POLICY, P2cEwmaLoadBalancer, P2cEwmaLoadBalancingConfig);
}

/**
 * Choosing a load-balancing policy the way grpc-js actually honours it, and failing
 * loudly where grpc-js stays silent. grpc-js reads the policy only from the
 * `loadBalancingConfig` list of the `grpc.service_config` channel option; it ignores
 * the `grpc.lb_policy_name` option (grpc-node #1215) and the deprecated
 * `loadBalancingPolicy` field, and an unknown or unregistered name in
 * `loadBalancingConfig` falls back to pick_first with a DEBUG log line only.
 */
import * as grpc from "@grpc/grpc-js";

/** The load-balancing policies Trellis offers (p2c_ewma after `registerP2cEwma()`). */
export type LoadBalancingPolicy = "p2c_ewma" | "round_robin" | "pick_first";

const POLICIES: readonly string[] = ["p2c_ewma", "round_robin", "pick_first"] satisfies readonly LoadBalancingPolicy[];

/**
 * The JSON for the `grpc.service_config` channel option that selects `policy`:
 * `{"loadBalancingConfig":[{"p2c_ewma":{}}]}`. Throws for a name that is not a
 * Trellis policy (a typo from configuration) and for a policy not registered with
 * grpc-js yet (grpc-js would silently use pick_first instead).
 */
export function serviceConfigFor(policy: LoadBalancingPolicy): string {
  if (!POLICIES.includes(policy)) {
    throw new Error(`unknown load-balancing policy "${String(policy)}": expected one of ${POLICIES.join(", ")}`);
  }
  if (!grpc.experimental.isLoadBalancerNameRegistered(policy)) {
    throw new Error(`load-balancing policy "${policy}" is not registered with grpc-js: call registerP2cEwma() first`);
  }
  return JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] });
}

/**
 * Throws if the channel options choose a load-balancing policy in a way grpc-js would
 * ignore: `grpc.lb_policy_name`, a `loadBalancingPolicy` field, or a
 * `loadBalancingConfig` entry whose name is not registered or whose config does not
 * parse. Stricter than gRPC's "first entry that parses" rule on purpose: in a
 * hand-written client config an entry that does not parse is a mistake.
 * Call it before creating a channel (the Trellis resolvers call it too).
 */
export function assertLoadBalancingConfig(channelOptions: grpc.ChannelOptions): void {
  if (channelOptions["grpc.lb_policy_name"] !== undefined) {
    throw new Error(
      `channel option grpc.lb_policy_name is ignored by grpc-js: use "grpc.service_config": serviceConfigFor(${JSON.stringify(channelOptions["grpc.lb_policy_name"])})`,
    );
  }
  const raw: unknown = channelOptions["grpc.service_config"];
  if (raw === undefined) return;
  if (typeof raw !== "string") throw new Error("channel option grpc.service_config must be a JSON string");
  let config: unknown;
  try {
    config = JSON.parse(raw);
  } catch (error) {
    throw new Error(`channel option grpc.service_config is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof config !== "object" || config === null) throw new Error("channel option grpc.service_config must be a JSON object");
  if ("loadBalancingPolicy" in config) {
    throw new Error('grpc.service_config: "loadBalancingPolicy" is ignored by grpc-js: use "loadBalancingConfig" (see serviceConfigFor)');
  }
  const list: unknown = (config as { loadBalancingConfig?: unknown }).loadBalancingConfig ?? [];
  if (!Array.isArray(list)) throw new Error('grpc.service_config: "loadBalancingConfig" must be an array');
  for (const entry of list as unknown[]) {
    try {
      grpc.experimental.parseLoadBalancingConfig(entry as never);
    } catch (error) {
      throw new Error(`grpc.service_config: ${(error as Error).message} (grpc-js would silently fall back to pick_first)`);
    }
  }
}

/** Client-side load balancing for grpc-js: the p2c_ewma policy and service-config helpers. */
export { registerP2cEwma, P2C_EWMA_POLICY } from "./p2c-ewma.js";
export { createP2cEwmaChooser, type P2cEwmaOptions, type P2cEwmaChooser, type EndpointLoad, type CallOutcome } from "./p2c-ewma-picker.js";
export { serviceConfigFor, assertLoadBalancingConfig, type LoadBalancingPolicy } from "./service-config.js";

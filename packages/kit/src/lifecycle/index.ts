/** A service's process lifecycle: `runService` and the pieces it is built from. */
export { runService, type ServiceSpec, type ServiceRuntime, type RunServiceOptions } from "./run-service.js";
export { shutdownOnSignals, type ShutdownOnSignalsOptions } from "./signals.js";
export { configOrExit, runMain, announceListening } from "./process.js";
export { startTelemetry, type Telemetry } from "./telemetry.js";
export { startLoadProtection, type LoadProtection, type LoadProtectionOptions } from "./load-protection.js";

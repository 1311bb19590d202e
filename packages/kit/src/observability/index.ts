/** Logging (pino with Elastic Common Schema field names) and its stdout writer. */
export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export { createCoalescingDestination, type CoalescingDestination, type CoalescingDestinationOptions } from "./coalescing-destination.js";
export { createDeferredQueue, type DeferredQueue } from "./after-responses.js";

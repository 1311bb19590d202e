import type { Sampler } from "@opentelemetry/sdk-trace-base";
import { SamplingDecision } from "@opentelemetry/sdk-trace-base";
import { PRESAMPLED } from "./tracing.js";

/**
 * The configured sampler, except that a root the tracing interceptor has
 * already sampled ({@link PRESAMPLED} on its context) is recorded: the
 * interceptor decides roots before making a span (see its `sampleRoot`), and
 * applying the ratio again here would square it. Loaded with the SDK, only
 * when tracing is on.
 */
export function createPresampledSampler(sampler: Sampler): Sampler {
  return {
    shouldSample: (context, ...rest) =>
      context.getValue(PRESAMPLED) === true ? { decision: SamplingDecision.RECORD_AND_SAMPLED } : sampler.shouldSample(context, ...rest),
    toString: () => sampler.toString(),
  };
}

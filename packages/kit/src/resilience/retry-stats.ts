/** What a retry interceptor did, since it was created. */
export interface RetryCounters {
  /** Attempts sent, first ones included. */
  readonly attempts: number;
  /** Attempts that were retries. */
  readonly retries: number;
  /** Retries the budget refused. */
  readonly budgetExhausted: number;
}

/** Counters a retry interceptor writes and a metrics exporter reads. */
export interface RetryStats {
  record(event: keyof RetryCounters): void;
  snapshot(): RetryCounters;
}

/** Zeroed counters; pass them to the retry interceptor to read them later. */
export function createRetryStats(): RetryStats {
  const counts = { attempts: 0, retries: 0, budgetExhausted: 0 };
  return {
    record(event) {
      counts[event]++;
    },
    snapshot: () => ({ ...counts }),
  };
}

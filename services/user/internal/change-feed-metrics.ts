import { Gauge, type OpenMetricsContentType, type PrometheusContentType, type Registry } from "prom-client";
import type { ChangeFeed } from "./change-feed.js";

/**
 * Registers `trellis_change_feed_lag` in `registry`: the feed's
 * {@link ChangeFeed.lag}, read when Prometheus scrapes (nothing per change).
 */
export function registerChangeFeedLag(
  registry: Registry<OpenMetricsContentType> | Registry<PrometheusContentType>,
  feed: Pick<ChangeFeed, "lag">,
): void {
  new Gauge({
    name: "trellis_change_feed_lag",
    help: "Changes the slowest WatchUsers stream of this instance is behind: the newest user change sequence this instance's change feed has read from the database minus the last sequence handed to that stream (0 with no stream).",
    registers: [registry],
    collect() {
      this.set(feed.lag());
    },
  });
}

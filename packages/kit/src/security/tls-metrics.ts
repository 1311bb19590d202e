import { Counter, Gauge } from "prom-client";
import type { MetricsRegistry } from "../observability/grpc-metrics.js";
import type { HandshakeOutcome } from "./tls-acceptor.js";
import type { TlsFiles } from "./tls-files.js";

/**
 * `trellis_tls_handshakes_total{outcome}` (every connection the TLS front
 * handled: ok, or why it was refused) and
 * `trellis_tls_certificate_expiry_timestamp_seconds{side}` (when the
 * certificate in use expires, read at scrape time so a reload shows at once:
 * alert on it before a rotation is missed). Returns the handshake counter.
 */
export function registerTlsMetrics(
  registry: MetricsRegistry,
  files: { readonly server?: TlsFiles; readonly client?: TlsFiles },
): (outcome: HandshakeOutcome) => void {
  const handshakes = new Counter({
    name: "trellis_tls_handshakes_total",
    help: "TLS connections the server handled, by outcome: ok, failed (bad or missing client certificate, unknown CA, expired, protocol), timeout, no_h2, foreign_trust_domain, bad_client_certificate.",
    labelNames: ["outcome"],
    registers: [registry],
  });
  for (const outcome of ["ok", "failed", "timeout", "no_h2", "foreign_trust_domain", "bad_client_certificate"] as const)
    handshakes.inc({ outcome }, 0);
  new Gauge({
    name: "trellis_tls_certificate_expiry_timestamp_seconds",
    help: "When this process' certificate in use expires (Unix seconds), by side: server, client.",
    labelNames: ["side"],
    registers: [registry],
    collect() {
      for (const [side, source] of Object.entries(files)) {
        const notAfter = source?.current().notAfter;
        if (notAfter !== undefined) this.set({ side }, Math.floor(notAfter.getTime() / 1000));
      }
    },
  });
  return (outcome) => handshakes.inc({ outcome });
}

import type { PeerCertificate } from "node:tls";
import { createContextKey } from "../call/context-values.js";

/**
 * A workload's identity, as SPIFFE spells it in a certificate's URI SAN:
 * `spiffe://<trustDomain>/ns/<namespace>/sa/<service>` (the layout Istio and
 * Linkerd use, so a mesh's certificates read the same).
 */
export interface PeerIdentity {
  /** The whole URI, e.g. `spiffe://trellis.local/ns/default/sa/chat`. */
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly namespace: string;
  /** The service (service account) name: what authorization rules name. */
  readonly service: string;
}

/**
 * The verified mTLS identity of the peer a server call came from, or
 * undefined (plaintext, TLS without a client certificate). Set by the server
 * for every call on a TLS connection; authorization reads it.
 */
export const peerIdentityKey = createContextKey<PeerIdentity | undefined>(undefined, { description: "trellis.peer-identity" });

/** The trust domain Trellis' certificates use unless told otherwise. */
export const DEFAULT_TRUST_DOMAIN = "trellis.local";
/** The namespace Trellis' certificates use unless told otherwise. */
export const DEFAULT_NAMESPACE = "default";

const LABEL = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const SPIFFE = /^spiffe:\/\/([a-z0-9.-]{1,255})\/ns\/([^/]{1,63})\/sa\/([^/]{1,63})$/;

/** The SPIFFE ID of `service` in `namespace` of `trustDomain`; throws on names that cannot be in one. */
export function spiffeId(service: string, options: { readonly trustDomain?: string; readonly namespace?: string } = {}): string {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  for (const [what, value] of [
    ["trust domain", trustDomain],
    ["namespace", namespace],
    ["service", service],
  ] as const) {
    if (!LABEL.test(value)) throw new Error(`${what} "${value}" is not a valid SPIFFE path segment (lower-case letters, digits, . _ -)`);
  }
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
}

/** Parses a SPIFFE ID of Trellis' layout; undefined for anything else. */
export function parseSpiffeId(uri: string): PeerIdentity | undefined {
  const match = SPIFFE.exec(uri);
  if (match === null) return undefined;
  const [, trustDomain = "", namespace = "", service = ""] = match;
  if (!LABEL.test(namespace) || !LABEL.test(service)) return undefined;
  return { spiffeId: uri, trustDomain, namespace, service };
}

/**
 * The SPIFFE IDs among a certificate's URI SANs. Node renders SANs as one
 * string (`URI:spiffe://…, DNS:localhost`); values with a comma or a quote
 * are quoted JSON-style, and a SPIFFE ID has neither, so only plain entries
 * are read.
 */
export function uriSans(certificate: Pick<PeerCertificate, "subjectaltname"> | undefined): string[] {
  const sans = certificate?.subjectaltname;
  if (typeof sans !== "string" || sans === "") return [];
  return sans
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4));
}

/**
 * The identity a certificate carries: its one SPIFFE URI SAN of Trellis'
 * layout. A certificate with none, or with more than one (SPIFFE allows
 * exactly one), has no identity.
 */
export function identityOfCertificate(certificate: Pick<PeerCertificate, "subjectaltname"> | undefined): PeerIdentity | undefined {
  const ids = uriSans(certificate).filter((uri) => uri.startsWith("spiffe://"));
  return ids.length === 1 ? parseSpiffeId(ids[0] ?? "") : undefined;
}

import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallRequest, Interceptor } from "../call/interceptor.js";
import { methodName } from "../call/method-name.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { principalKey, type Principal } from "./principal.js";
import { peerIdentityKey, type PeerIdentity } from "./spiffe-id.js";

/**
 * What the end user must be: authenticated at all; hold one of some roles
 * and/or all of some scopes; be the user the request names (`self` reads the
 * subject from the request) unless they hold one of `orRole`; or pass a check
 * of its own that may read the request. Checks reading the request fail for a
 * streamed request (there is no single message to read).
 */
export type UserRequirement<I> =
  | "authenticated"
  | { readonly anyRole?: readonly string[]; readonly allScopes?: readonly string[] }
  | { readonly self: (request: I) => string | undefined; readonly orRole?: readonly string[] }
  | ((principal: Principal, request: I | undefined) => boolean);

/**
 * One way to be allowed. `peers` is checked when the server verifies client
 * certificates (mTLS), `user` when it verifies bearer tokens: turning a
 * mechanism on turns its conditions on. A clause admits a call when at least
 * one of its conditions is checked and every checked one holds — a clause
 * whose conditions are all of mechanisms that are off admits no one (so
 * `{ peers: ["chat"] }` does not open a method to everyone when only tokens
 * are checked).
 */
export interface Allow<I = unknown> {
  /** The services (SPIFFE `sa/<name>`) whose mTLS identity may call; `"*"`: any verified peer. */
  readonly peers?: readonly string[];
  readonly user?: UserRequirement<I>;
}

/**
 * A method's rule: "public" (anyone, even with authentication on), or
 * clauses of which any one admits a call.
 */
export type MethodRule<I = unknown> = "public" | readonly Allow<I>[];

/** The rules of one service, by method (the generated client's method names); a method without one is denied. */
export type ServiceRules<S extends DescService> =
  S extends GenService<infer Shape extends GenServiceMethods>
    ? { readonly [K in keyof Shape]?: MethodRule<Shape[K] extends { input: infer I extends DescMessage } ? MessageShape<I> : never> }
    : never;

/** A service's rules, ready for the interceptor. */
export interface AuthorizationRules {
  readonly service: DescService;
  readonly rules: Readonly<Record<string, MethodRule<never> | undefined>>;
}

/** Declares who may call each method of `service`, in one place (typed by the service's generated methods). */
export function defineRules<S extends DescService>(service: S, rules: ServiceRules<S>): AuthorizationRules {
  const known = new Set(service.methods.map((m) => m.localName));
  for (const name of Object.keys(rules as object)) {
    if (!known.has(name)) throw new Error(`authorization rules of ${service.typeName} name ${name}, which it does not have`);
  }
  return { service, rules: rules as unknown as AuthorizationRules["rules"] };
}

/** The user themself (the request names their subject) or a holder of one of `roles`. */
export function selfOrRole<I>(
  subjectOf: (request: I) => string | undefined,
  ...roles: string[]
): (principal: Principal, request: I | undefined) => boolean {
  return (principal, request) =>
    principal.roles.some((role) => roles.includes(role)) ||
    (request !== undefined && subjectOf(request) === principal.subject && principal.subject !== "");
}

/** Why a call was refused, for metrics and the log. */
export type DenialReason = "no_rule" | "no_identity" | "not_allowed";

/** Options of {@link createAuthorizationInterceptor}. */
export interface AuthorizationOptions {
  readonly rules: readonly AuthorizationRules[];
  /** Check `peers` conditions (the server verifies client certificates). */
  readonly checkPeers: boolean;
  /** Check `user` conditions (bearer tokens are verified). */
  readonly checkUsers: boolean;
  /** Told of each refusal (metrics). @default none */
  readonly onDenied?: (reason: DenialReason, method: DescMethod) => void;
}

const REFLECTION = /^grpc\.reflection\.v1(alpha)?\.ServerReflection$/;

/**
 * Enforces the rules, default deny: a method without a rule is refused with
 * PERMISSION_DENIED, so a method added without thinking about who may call it
 * is closed, not open. A caller that lacks the identity a clause needs gets
 * UNAUTHENTICATED ("authentication required"), one that has it and is not
 * allowed PERMISSION_DENIED ("permission denied"); which rule failed goes to
 * the log only. Health checks never reach the chain (load balancers and
 * probes call them without credentials); reflection is allowed to any caller
 * with a verified identity (a peer certificate or a token).
 */
export function createAuthorizationInterceptor(options: AuthorizationOptions): Interceptor {
  const byMethod = new Map<DescMethod, MethodRule<never>>();
  for (const { service, rules } of options.rules) {
    for (const method of service.methods) {
      const rule = rules[method.localName];
      if (rule !== undefined) byMethod.set(method, rule);
    }
  }
  const { checkPeers, checkUsers } = options;
  return (next) => async (request) => {
    const { context, method } = request;
    if (context.side !== "server" || (!checkPeers && !checkUsers)) return next(request);
    // Reflection: any caller with a verified identity, by either mechanism.
    const rule = REFLECTION.test(method.parent.typeName) ? REFLECTION_RULE : byMethod.get(method);
    if (rule === "public") return next(request);
    const peer = checkPeers ? context.values.get(peerIdentityKey) : undefined;
    const principal = checkUsers ? context.values.get(principalKey) : undefined;
    const denied = (reason: DenialReason, why: string): RpcError => {
      options.onDenied?.(reason, method);
      context.logger.info(
        {
          "event.action": "authorization",
          "event.outcome": "failure",
          "event.reason": reason,
          "tls.client.identity": peer?.spiffeId,
          "user.id": principal?.subject,
        },
        `call refused: ${why}`,
      );
      return reason === "no_identity"
        ? new RpcError(Code.UNAUTHENTICATED, "authentication required")
        : new RpcError(Code.PERMISSION_DENIED, "permission denied");
    };
    if (rule === undefined) throw denied("no_rule", `no authorization rule for ${methodName(method)}`);
    let missingIdentity = false;
    for (const clause of rule) {
      const verdict = evaluate(clause, { peer, principal, checkPeers, checkUsers, request });
      if (verdict === "allow") return next(request);
      if (verdict === "no_identity") missingIdentity = true;
    }
    const who = [
      peer === undefined ? undefined : `peer ${peer.spiffeId}`,
      principal === undefined ? undefined : `user ${principal.subject}`,
    ]
      .filter(Boolean)
      .join(", ");
    throw missingIdentity
      ? denied("no_identity", `${methodName(method)} needs an identity the caller did not present (${who === "" ? "none presented" : who})`)
      : denied("not_allowed", `${who} may not call ${methodName(method)}`);
  };
}

/** `peers: ["*"]`: any verified peer identity. */
const REFLECTION_RULE: MethodRule<never> = [{ peers: ["*"] }, { user: "authenticated" }];

interface Caller {
  readonly peer: PeerIdentity | undefined;
  readonly principal: Principal | undefined;
  readonly checkPeers: boolean;
  readonly checkUsers: boolean;
  readonly request: CallRequest;
}

/**
 * A clause's verdict: "deny" when a condition it can check fails (a peer not
 * listed, a user without the role), "no_identity" when nothing failed but an
 * identity it needs is missing (presenting one might help), else "allow".
 */
function evaluate(clause: Allow<never>, caller: Caller): "allow" | "deny" | "no_identity" {
  const needsPeer = caller.checkPeers && clause.peers !== undefined;
  const needsUser = caller.checkUsers && clause.user !== undefined;
  if (!needsPeer && !needsUser) return "deny";
  if (needsPeer && caller.peer !== undefined && !clause.peers!.includes("*") && !clause.peers!.includes(caller.peer.service)) return "deny";
  if (needsUser && caller.principal !== undefined && !userAllowed(clause.user!, caller.principal, caller.request)) return "deny";
  if ((needsPeer && caller.peer === undefined) || (needsUser && caller.principal === undefined)) return "no_identity";
  return "allow";
}

function userAllowed(requirement: UserRequirement<never>, principal: Principal, request: CallRequest): boolean {
  if (requirement === "authenticated") return true;
  if (typeof requirement === "function") {
    const check = requirement as (principal: Principal, request: unknown) => boolean;
    return check(principal, request.stream ? undefined : request.message);
  }
  if ("self" in requirement) {
    const self = selfOrRole(requirement.self as (request: unknown) => string | undefined, ...(requirement.orRole ?? []));
    return self(principal, request.stream ? undefined : request.message);
  }
  const roles = requirement.anyRole;
  const scopes = requirement.allScopes;
  return (
    (roles === undefined || roles.some((role) => principal.roles.includes(role))) &&
    (scopes === undefined || scopes.every((scope) => principal.scopes.includes(scope)))
  );
}

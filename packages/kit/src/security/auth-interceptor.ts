import type { Interceptor } from "../call/interceptor.js";
import { Code, RpcError } from "../errors/rpc-error.js";
import { AuthenticationFailure, type AuthenticationFailureReason, type Authenticator } from "./jwt-authenticator.js";
import { principalKey, type Principal } from "./principal.js";

/** The one message every refused token gets: nothing in it tells an attacker which check failed. */
export const AUTHENTICATION_FAILED = "authentication failed";

/** Options of {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  readonly authenticator: Authenticator;
  /** Told of each refused token (metrics). @default none */
  readonly onFailure?: (reason: AuthenticationFailureReason) => void;
}

/**
 * The bearer token of a request's `authorization` header (`Bearer <jwt>`,
 * scheme case-insensitive), undefined without one; throws
 * AuthenticationFailure("malformed") for any other form.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (authorization === null || authorization === undefined || authorization === "") return undefined;
  const space = authorization.indexOf(" ");
  if (space < 0 || authorization.slice(0, space).toLowerCase() !== "bearer")
    throw new AuthenticationFailure("malformed", "the authorization header is not a Bearer token");
  return authorization.slice(space + 1).trim();
}

/**
 * Verifies each server call's bearer token and puts its principal in the
 * call's values (`principalKey`). A call without a token passes on with no
 * principal: whether it may proceed is authorization's decision (a rule may
 * let a service call without an end user). A token that does not verify ends
 * the call with UNAUTHENTICATED and the same message whatever was wrong; the
 * reason goes to the server's log on the call's line.
 */
export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  const { authenticator } = options;
  return (next) => async (request) => {
    const { context } = request;
    if (context.side !== "server") return next(request);
    let principal: Principal | undefined;
    try {
      const token = bearerToken(context.requestHeader.get("authorization"));
      if (token !== undefined) principal = await authenticator.verify(token);
    } catch (error) {
      const failure = error instanceof AuthenticationFailure ? error : new AuthenticationFailure("keys_unavailable", String(error));
      options.onFailure?.(failure.reason);
      context.logger.info(
        {
          "event.action": "authentication",
          "event.outcome": "failure",
          "event.reason": failure.reason,
          "error.message": failure.detail.slice(0, 300),
        },
        `bearer token refused: ${failure.reason}`,
      );
      throw new RpcError(Code.UNAUTHENTICATED, AUTHENTICATION_FAILED);
    }
    if (principal !== undefined) context.values.set(principalKey, principal);
    return next(request);
  };
}

/**
 * A client interceptor that passes the end user's bearer token on: a call
 * made while handling a server call (`parent`) carries the parent's
 * `authorization` header unless it sets its own, so the next service checks
 * the same user (zero trust between services; the token's audience must be
 * accepted by both).
 */
export function createAuthForwardingInterceptor(): Interceptor {
  return (next) => (request) => {
    const { context } = request;
    if (context.side === "client" && context.parent !== undefined && !context.requestHeader.has("authorization")) {
      const authorization = context.parent.requestHeader.get("authorization");
      if (authorization !== null) context.requestHeader.set("authorization", authorization);
    }
    return next(request);
  };
}

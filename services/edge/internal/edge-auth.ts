import type { Interceptor, Logger } from "@trellis/kit";
import { Code, RpcError } from "@trellis/kit/errors";
import { AUTHENTICATION_FAILED, AuthenticationFailure, bearerToken, type Authenticator } from "@trellis/kit/security";

/** Options of {@link createEdgeAuthInterceptor}. */
export interface EdgeAuthOptions {
  /** runService's verifier (TRELLIS_AUTH_JWKS). */
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  /** Told of each refused token, by reason (the kit's trellis_auth_failures_total). @default none */
  readonly onFailure?: (reason: AuthenticationFailure["reason"]) => void;
}

/**
 * Verifies a caller's bearer token at the door, before the edge calls a
 * backend (a client interceptor on the edge's backend clients, outermost, so
 * a refusal never reaches the breaker or a retry): a token that does not
 * verify gets UNAUTHENTICATED with the kit's one fixed message, whatever was
 * wrong (the reason goes to the edge's log and metrics). A call without a
 * token passes: whether it may proceed is the backend's authorization. A
 * verified token travels on unchanged in `authorization`, and the backend
 * verifies it again (zero trust between services): the edge forwards the
 * token, never a principal header a caller could forge.
 */
export function createEdgeAuthInterceptor(options: EdgeAuthOptions): Interceptor {
  const { authenticator, logger } = options;
  return (next) => async (request) => {
    const { context } = request;
    if (context.side !== "client") return next(request);
    try {
      const token = bearerToken(context.requestHeader.get("authorization"));
      if (token !== undefined) await authenticator.verify(token);
    } catch (error) {
      const failure = error instanceof AuthenticationFailure ? error : new AuthenticationFailure("keys_unavailable", String(error));
      options.onFailure?.(failure.reason);
      logger.info(
        {
          "event.action": "authentication",
          "event.outcome": "failure",
          "event.reason": failure.reason,
          "error.message": failure.detail.slice(0, 300),
          "rpc.method": context.method.name,
          "rpc.service": context.method.parent.typeName,
        },
        `edge: bearer token refused: ${failure.reason}`,
      );
      throw new RpcError(Code.UNAUTHENTICATED, AUTHENTICATION_FAILED);
    }
    return next(request);
  };
}

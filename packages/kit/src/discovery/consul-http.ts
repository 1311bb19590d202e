/**
 * The HTTP layer of the Consul adapter: one request to the agent under a deadline, with
 * Node's global `fetch` (no client library). A non-2xx answer becomes a {@link ConsulError}
 * carrying Consul's own text; an ACL refusal also names the variable the token came from,
 * so a service that cannot start says which setting to fix, on one line.
 */

/** An error from Consul: `status` and `body` are set when the agent answered with a non-2xx status. */
export class ConsulError extends Error {
  override readonly name = "ConsulError";
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

/** Options of {@link createConsulHttp}. */
export interface ConsulHttpOptions {
  /** The agent's HTTP API, e.g. `http://127.0.0.1:8500`. */
  readonly address: string;
  /** ACL token, sent as `X-Consul-Token`. @default undefined (no header: Consul uses its anonymous token) */
  readonly token?: string;
  /** Where the token comes from, named in ACL errors. @default "CONSUL_HTTP_TOKEN" */
  readonly tokenName?: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** What one request sends, and how long it may take. */
export interface ConsulRequest {
  /** Sent as JSON. @default undefined (no body) */
  readonly body?: unknown;
  /** Cancels the request (a stopped watch, a closed registry). @default undefined */
  readonly signal?: AbortSignal;
  /** Deadline for the answer and reading it. */
  readonly timeoutMs: number;
}

/** A connection to one agent. */
export interface ConsulHttp {
  /** The agent's address, without a trailing slash. */
  readonly address: string;
  /** Whether a token is sent (without one, Consul answers as its anonymous token). */
  readonly hasToken: boolean;
  /** Where the token comes from (`CONSUL_HTTP_TOKEN`), for messages. */
  readonly tokenName: string;
  /**
   * One request, read by `read` under the same deadline. Rejects with a ConsulError: the
   * agent's status and text for a non-2xx answer, "consul at … is unreachable: …" when it
   * did not answer; with the signal's reason when `signal` aborted it.
   */
  request<T>(method: string, path: string, init: ConsulRequest, read: (response: Response) => Promise<T>): Promise<T>;
}

/** A {@link ConsulHttp} for `options.address`. */
export function createConsulHttp(options: ConsulHttpOptions): ConsulHttp {
  const address = options.address.replace(/\/+$/, "");
  const tokenName = options.tokenName ?? "CONSUL_HTTP_TOKEN";
  const fetchFn = options.fetch ?? globalThis.fetch;
  const hasToken = options.token !== undefined;

  const request = async <T>(method: string, path: string, init: ConsulRequest, read: (response: Response) => Promise<T>): Promise<T> => {
    // One controller for both causes; linked by hand rather than AbortSignal.any so a
    // long-lived watch signal does not accumulate a composite per blocking request. The
    // deadline is a ref'd timer, not AbortSignal.timeout (unref'd), so it fires even when
    // nothing else keeps Node alive.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, Math.ceil(init.timeoutMs));
    const cancel = (): void => controller.abort();
    init.signal?.addEventListener("abort", cancel, { once: true });
    if (init.signal?.aborted === true) controller.abort();
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers["X-Consul-Token"] = options.token;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetchFn(`${address}${path}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = (await response.text()).trim().replace(/\s*\n\s*/g, " ");
        const where = path.split("?")[0] ?? path;
        const advice = aclAdvice(response.status, body, hasToken, tokenName);
        const said = advice === "" ? body : body.replace(/\.$/, "");
        throw new ConsulError(
          `consul ${method} ${where} answered ${response.status}: ${said || response.statusText}${advice}`,
          response.status,
          body,
        );
      }
      return await read(response);
    } catch (error) {
      if (error instanceof ConsulError || init.signal?.aborted === true) throw error;
      const why = timedOut ? `no answer within ${Math.ceil(init.timeoutMs)} ms` : describe(error);
      throw new ConsulError(`consul at ${address} is unreachable: ${why}`);
    } finally {
      clearTimeout(timer);
      init.signal?.removeEventListener("abort", cancel);
    }
  };

  return { address, hasToken, tokenName, request };
}

/** Says which setting to fix when Consul refused the token (403). */
function aclAdvice(status: number, body: string, hasToken: boolean, tokenName: string): string {
  if (status !== 403) return "";
  if (/ACL not found/i.test(body)) return `; ${tokenName} holds a token this agent does not know: set it to the SecretID of a valid token`;
  if (/permission denied/i.test(body)) {
    return hasToken
      ? `; the token in ${tokenName} lacks that permission`
      : `; ${tokenName} is not set, so Consul used its anonymous token: set it to a token with that permission`;
  }
  return `; check the token in ${tokenName}`;
}

/** A 4xx other than 408/429: the request itself is wrong (bad token, ACL), so retrying will not help. */
export function isPermanent(error: unknown): boolean {
  const status = error instanceof ConsulError ? error.status : undefined;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Consul answered 404: the agent does not know the service or check (it restarted, or reaped it). */
export function isUnknownToAgent(error: unknown): boolean {
  return error instanceof ConsulError && error.status === 404;
}

/** fetch's own message is "fetch failed"; the useful part (ECONNREFUSED…) is in its cause. */
function describe(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4; depth += 1) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined) break;
    current = cause;
  }
  if (current instanceof AggregateError && current.message === "") current = current.errors[0] ?? current;
  return current instanceof Error ? current.message || ("code" in current ? String(current.code) : current.name) : String(current);
}

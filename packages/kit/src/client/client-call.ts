import type { DescMethod } from "@bufbuild/protobuf";
import type { CallContext } from "../call/call-context.js";
import { createContextValues, type ContextValues } from "../call/context-values.js";
import type { HeadersInit } from "../call/headers.js";
import type { Logger } from "../observability/logger.js";

/** A signal that never fires, for client calls made without one (shared: nothing ever aborts it). */
const NEVER = new AbortController().signal;

/** Whether `signal` can fire at all (not the shared never-firing one). */
export function canAbort(signal: AbortSignal): boolean {
  return signal !== NEVER;
}

/** What a client call starts with. */
export interface ClientCallInit {
  readonly method: DescMethod;
  readonly target: string;
  readonly logger: Logger;
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  readonly headers?: HeadersInit;
  readonly values?: ContextValues;
  readonly parent?: CallContext;
}

/**
 * The CallContext of a call this process makes. Headers and values are made on
 * first use; the transport fills the response headers and trailers as they
 * arrive.
 */
export class ClientCall implements CallContext {
  readonly side = "client";
  readonly method: DescMethod;
  readonly target: string;
  readonly deadline: number | undefined;
  readonly signal: AbortSignal;
  readonly parent: CallContext | undefined;
  readonly logger: Logger;
  #init: HeadersInit | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #values: ContextValues | undefined;

  constructor(init: ClientCallInit) {
    this.method = init.method;
    this.target = init.target;
    this.logger = init.logger;
    this.deadline = init.deadline;
    this.signal = init.signal ?? NEVER;
    this.parent = init.parent;
    this.#init = init.headers;
    this.#values = init.values;
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= new Headers(this.#init));
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  get values(): ContextValues {
    return (this.#values ??= createContextValues());
  }

  get requestId(): string {
    return this.requestHeader.get("x-request-id") ?? "";
  }

  get peer(): string {
    return this.target;
  }
}

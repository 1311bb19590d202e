/**
 * Typed per-call values (connect-es' `createContextKey`): tracing spans, the
 * authenticated principal, the peer's mTLS identity travel with a call through
 * every interceptor to the handler without a global or an untyped bag.
 */

/** A key for one value; its default is what `get` returns until someone `set`s it. */
export interface ContextKey<T> {
  readonly id: symbol;
  readonly defaultValue: T;
}

/** Creates a key. Keys are compared by identity: create each once, at module level of its owner. */
export function createContextKey<T>(defaultValue: T, options: { readonly description?: string } = {}): ContextKey<T> {
  return { id: Symbol(options.description), defaultValue };
}

/** The values of one call. */
export interface ContextValues {
  get<T>(key: ContextKey<T>): T;
  set<T>(key: ContextKey<T>, value: T): this;
  delete(key: ContextKey<unknown>): this;
}

/** An empty set of values. */
export function createContextValues(): ContextValues {
  const values = new Map<symbol, unknown>();
  return {
    get: <T>(key: ContextKey<T>): T => (values.has(key.id) ? (values.get(key.id) as T) : key.defaultValue),
    set(key, value) {
      values.set(key.id, value);
      return this;
    },
    delete(key) {
      values.delete(key.id);
      return this;
    },
  };
}

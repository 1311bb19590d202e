// on-exit-leak-free ships no types; the part the kit uses.
declare module "on-exit-leak-free" {
  /** Calls `fn(object, event)` on process exit while `object` is alive (held weakly). */
  export function register<T extends object>(object: T, fn: (object: T, event: string) => void): void;
  /** Stops calling the function registered for `object`. */
  export function unregister(object: object): void;
}

/** Counts calls and response streams in progress against their limits. */
export interface CallGate {
  /** Takes a slot for a call (and a stream slot for a response stream); false when full. */
  enter(stream: boolean): "ok" | "too_many_calls" | "too_many_streams";
  /** Gives the slots back (once per successful enter). */
  leave(stream: boolean): void;
  readonly calls: number;
  readonly streams: number;
}

/** A gate of `maxCalls` calls, `maxStreams` of them response streams. */
export function createCallGate(
  maxCalls: number,
  maxStreams: number,
  onChange: (calls: number, streams: number) => void = () => undefined,
): CallGate {
  let calls = 0;
  let streams = 0;
  return {
    enter(stream) {
      if (calls >= maxCalls) return "too_many_calls";
      if (stream && streams >= maxStreams) return "too_many_streams";
      calls++;
      if (stream) streams++;
      onChange(calls, streams);
      return "ok";
    },
    leave(stream) {
      calls--;
      if (stream) streams--;
      onChange(calls, streams);
    },
    get calls() {
      return calls;
    },
    get streams() {
      return streams;
    },
  };
}

/** What a caller is told when the gate is full (the same words over every protocol). */
export function gateRefusalMessage(full: "too_many_calls" | "too_many_streams"): string {
  return full === "too_many_calls"
    ? "the edge has too many calls in progress; retry later"
    : "the edge has too many open response streams; retry later";
}

import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** A log line that says something went wrong inside the server. */
export interface LogProblem {
  readonly service: string;
  readonly stream: "stdout" | "stderr";
  readonly reason: string;
  readonly line: string;
  /** The call's request id and method, when the line names them. */
  readonly requestId: string | undefined;
  readonly method: string | undefined;
}

/** A parsed JSON log line. */
export type LogEntry = Readonly<Record<string, unknown>>;

/** An access line: how the server says a call ended. */
export interface AccessLine {
  readonly requestId: string;
  readonly method: string;
  readonly code: string;
}

/** Watches one process' stdout and stderr. */
export interface LogMonitor {
  /** The problems seen since the last call, oldest first. */
  takeProblems(): LogProblem[];
  /** The access lines seen since the last call whose request id starts with `prefix`. */
  takeAccessLines(prefix: string): AccessLine[];
  /** Resolves with the first entry from now on that `match` accepts; rejects after `timeoutMs` or when the output ends. */
  waitForEntry(match: (entry: LogEntry) => boolean, timeoutMs: number): Promise<LogEntry>;
  /** The last lines seen (for a failure report). */
  tail(): readonly string[];
}

const TAIL_LINES = 40;
const SERVER_FAULT_CODES = new Set(["INTERNAL", "UNKNOWN", "DATA_LOSS"]);

/**
 * Why `line` is a problem, or undefined when it is not: an unhandled rejection
 * or uncaught exception, a stack trace (raw or in a log entry's error), any
 * error- or fatal-level entry, an access line whose code is a server fault,
 * and anything on stderr (the services log to stdout only).
 */
export function classifyLogLine(stream: "stdout" | "stderr", line: string, entry: LogEntry | undefined): string | undefined {
  if (/unhandledRejection|uncaughtException|UnhandledPromiseRejection/i.test(line)) return "unhandled rejection or uncaught exception";
  if (entry === undefined) {
    if (/^\s+at\s.+(:\d+:\d+\)?|\(native\)|<anonymous>)\s*$/.test(line)) return "stack trace";
    if (stream === "stderr" && line.trim() !== "") return "output on stderr";
    if (stream === "stdout" && line.trim() !== "") return "a stdout line that is not JSON";
    return undefined;
  }
  const error = entry["error"];
  if ((typeof error === "object" && error !== null && "stack_trace" in error) || entry["error.stack_trace"] !== undefined)
    return "stack trace in a log entry";
  const code = entry["grpc.code"];
  if (typeof code === "string" && SERVER_FAULT_CODES.has(code)) return `call answered ${code}`;
  const level = entry["log.level"];
  if (level === "error" || level === "fatal") return `${String(level)}-level log entry`;
  if (stream === "stderr") return "output on stderr";
  return undefined;
}

/** Starts watching `stdout` and `stderr` of the process named `service`. */
export function monitorLogs(service: string, stdout: Readable, stderr: Readable): LogMonitor {
  const problems: LogProblem[] = [];
  const access: AccessLine[] = [];
  const tail: string[] = [];
  const waiters = new Set<{ match: (entry: LogEntry) => boolean; resolve: (entry: LogEntry) => void; reject: (error: Error) => void }>();
  let open = 2;

  const onLine = (stream: "stdout" | "stderr", line: string): void => {
    tail.push(`${stream}: ${line.length > 2000 ? `${line.slice(0, 2000)}… (${line.length} chars)` : line}`);
    if (tail.length > TAIL_LINES) tail.shift();
    let entry: LogEntry | undefined;
    if (line.startsWith("{")) {
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        entry = undefined;
      }
    }
    const reason = classifyLogLine(stream, line, entry);
    if (reason !== undefined) {
      problems.push({
        service,
        stream,
        reason,
        line: line.length > 4000 ? `${line.slice(0, 4000)}… (${line.length} chars)` : line,
        requestId: typeof entry?.["http.request.id"] === "string" ? entry["http.request.id"] : undefined,
        method: typeof entry?.["rpc.method"] === "string" ? entry["rpc.method"] : undefined,
      });
    }
    if (entry !== undefined && typeof entry["grpc.code"] === "string" && typeof entry["http.request.id"] === "string") {
      access.push({ requestId: entry["http.request.id"], method: String(entry["rpc.method"] ?? ""), code: entry["grpc.code"] });
    }
    if (entry !== undefined) {
      for (const waiter of waiters) {
        if (waiter.match(entry)) {
          waiters.delete(waiter);
          waiter.resolve(entry);
        }
      }
    }
  };
  const onClose = (): void => {
    if (--open > 0) return;
    for (const waiter of waiters) waiter.reject(new Error(`${service}'s output ended`));
    waiters.clear();
  };
  createInterface({ input: stdout, crlfDelay: Infinity })
    .on("line", (line) => onLine("stdout", line))
    .on("close", onClose);
  createInterface({ input: stderr, crlfDelay: Infinity })
    .on("line", (line) => onLine("stderr", line))
    .on("close", onClose);

  return {
    takeProblems: () => problems.splice(0, problems.length),
    takeAccessLines: (prefix) => access.splice(0, access.length).filter((line) => line.requestId.startsWith(prefix)),
    waitForEntry(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        if (open === 0) {
          reject(new Error(`${service}'s output ended`));
          return;
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${service}: no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (entry: LogEntry) => {
            clearTimeout(timer);
            resolve(entry);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        waiters.add(waiter);
      });
    },
    tail: () => [...tail],
  };
}

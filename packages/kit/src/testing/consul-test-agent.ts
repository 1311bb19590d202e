/**
 * A throwaway `consul agent -dev` for the integration suites that need an agent of their
 * own: one to kill and restart, one with ACLs. State lives in memory (dev mode), so no
 * folder is left behind; the process is killed by `stop()` and, should a test crash past
 * its hooks, when this process exits or is signalled (the test runner's timeout).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { onProcessEnd } from "./process-cleanup.js";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";

/** Options of {@link startConsulTestAgent}. */
export interface ConsulTestAgentOptions {
  /** The consul binary. */
  readonly bin: string;
  /**
   * First of seven consecutive ports, all on 127.0.0.1: HTTP, DNS, gRPC, gRPC-TLS, serf
   * LAN, serf WAN, server (the layout of .ci/lib.sh's agent at 28500).
   */
  readonly basePort: number;
  /** Extra agent configuration (HCL), e.g. ACLs. @default "" */
  readonly hcl?: string;
  /** How long `start` waits for a leader. @default 30000 */
  readonly startTimeoutMs?: number;
}

/** A running agent. */
export interface ConsulTestAgent {
  /** `http://127.0.0.1:<basePort>`. */
  readonly httpAddress: string;
  /** `127.0.0.1:<basePort + 1>`. */
  readonly dnsAddress: string;
  /** Kills the agent with SIGKILL (no leave, no deregistration): its state is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same ports, with empty state; resolves once it has a leader. */
  start(): Promise<void>;
  /** Kills it for good. Idempotent. */
  stop(): Promise<void>;
}

/** Starts an agent and resolves once it has elected itself leader. */
export async function startConsulTestAgent(options: ConsulTestAgentOptions): Promise<ConsulTestAgent> {
  const base = options.basePort;
  const httpAddress = `http://127.0.0.1:${base}`;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const args = [
    "agent",
    "-dev",
    "-node",
    `trellis-test-${base}`,
    "-client",
    "127.0.0.1",
    "-bind",
    "127.0.0.1",
    ...["-http-port", "-dns-port", "-grpc-port", "-grpc-tls-port", "-serf-lan-port", "-serf-wan-port", "-server-port"].flatMap(
      (flag, i) => [flag, String(base + i)],
    ),
    ...(options.hcl === undefined ? [] : ["-hcl", options.hcl]),
  ];
  let child: ChildProcess | undefined;
  let output: string[] = [];

  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };

  const leader = async (): Promise<boolean> => {
    try {
      const response = await fetch(`${httpAddress}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
      return response.ok && (await response.text()).includes(`:${base + 6}`);
    } catch {
      return false;
    }
  };

  const start = async (): Promise<void> => {
    await kill();
    output = [];
    const started = spawn(options.bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    // Not a node process, so no watchdog: killed when this test process exits or is signalled.
    const release = onProcessEnd(() => started.kill("SIGKILL"));
    started.once("exit", release);
    started.once("error", release);
    child = started;
    const keep = (chunk: Buffer): void => {
      output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      output = output.slice(-20);
    };
    started.stdout?.on("data", keep);
    started.stderr?.on("data", keep);
    const deadline = Date.now() + startTimeoutMs;
    while (!(await leader())) {
      if (started.exitCode !== null || Date.now() > deadline) {
        await kill();
        throw new Error(
          `consul agent on ${httpAddress} did not elect a leader within ${startTimeoutMs} ms; last output:\n${output.join("\n")}`,
        );
      }
      await delay(100);
    }
  };

  await start();
  return {
    httpAddress,
    dnsAddress: `127.0.0.1:${base + 1}`,
    kill,
    start,
    stop: async () => {
      await kill();
    },
  };
}

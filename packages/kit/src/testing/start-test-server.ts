import type { DescService } from "@bufbuild/protobuf";
import { Writable } from "node:stream";
import { closeClient, createClient, type Client, type ClientOptions } from "../client/create-client.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createServer, type Server, type ServerOptions } from "../server/create-server.js";

/** A server running in this process on an ephemeral loopback port. */
export interface TestServer {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly server: Server;
  /** JSON log lines the server wrote, parsed (when the logger was not given). */
  readonly logs: readonly Record<string, unknown>[];
  /** A typed client for one of the server's services; closed with the server. */
  client<S extends DescService>(service: S, options?: ClientOptions): Client<S>;
  /** Closes the clients and shuts the server down. */
  close(): Promise<void>;
}

/**
 * Starts a real server (the same createServer and interceptor chain as in
 * production) on 127.0.0.1 with a free port, so tests call services through
 * real HTTP/2 in a few lines:
 *
 * ```ts
 * const t = await startTestServer((s) => s.addService(UserService, handlers));
 * const users = t.client(UserService);
 * await users.getUser({ id });
 * await t.close();
 * ```
 */
export async function startTestServer(register: (server: Server) => void, options: ServerOptions = {}): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const logger: Logger =
    options.logger ??
    createLogger({
      level: "debug",
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      }),
    });
  const server = createServer({ shutdownGraceMs: 2_000, ...options, logger });
  register(server);
  const { port } = await server.listen({ host: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${port}`;
  const clients: object[] = [];
  return {
    address,
    server,
    logs,
    client(service, clientOptions) {
      const client = createClient(service, address, clientOptions);
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) closeClient(client);
      await server.shutdown();
    },
  };
}

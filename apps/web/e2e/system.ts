import { fileURLToPath } from "node:url";
import { closeClient, createClient, type Client } from "@trellis/kit";
import { startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

const root = new URL("../../../../", import.meta.url);
const main = (service: string): string => fileURLToPath(new URL(`services/${service}/dist/main.js`, root));
/** The built web app the edge serves (npm run build). */
export const WEB_DIST = fileURLToPath(new URL("apps/web/dist/", root));

/** The real system a browser test talks to: user, chat and the edge, each its own process. */
export interface WebSystem {
  /** The edge's public URL: the web app and every API, same origin. */
  readonly url: string;
  readonly user: ServiceProcess;
  readonly chat: ServiceProcess;
  readonly edge: ServiceProcess;
  /** Direct gRPC clients to the services, for setting up and checking data behind the browser's back. */
  readonly users: Client<typeof UserService>;
  readonly rooms: Client<typeof ChatService>;
  /** A counter from a service's /metrics, e.g. grpc_server_handled_total for a method and code (0 when absent). */
  metric(service: ServiceProcess, name: string, labels: Readonly<Record<string, string>>): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts user, chat (finding user through the static registry) and the edge (routing to
 * both, serving apps/web/dist) on free loopback ports with in-memory databases. Every process
 * dies with the test process, even on SIGKILL (startServiceProcess owns them).
 */
export async function startWebSystem(): Promise<WebSystem> {
  const started: ServiceProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.reverse().map((process) => process.stop()));
  };
  try {
    const user = await startServiceProcess(main("user"));
    started.push(user);
    const chat = await startServiceProcess(main("chat"), { env: { TRELLIS_STATIC_SERVICES: `user=${user.address}` } });
    started.push(chat);
    const edge = await startServiceProcess(main("edge"), {
      env: { EDGE_PORT: "0", EDGE_WEB_DIR: WEB_DIST, TRELLIS_STATIC_SERVICES: `user=${user.address};chat=${chat.address}` },
    });
    started.push(edge);
    const httpPort = edge.logs.map((line) => line["http.port"]).find((port) => typeof port === "number");
    if (typeof httpPort !== "number") throw new Error("the edge's listening line names no http.port");
    const users = createClient(UserService, user.address);
    const rooms = createClient(ChatService, chat.address);
    return {
      url: `http://127.0.0.1:${httpPort}/`,
      user,
      chat,
      edge,
      users,
      rooms,
      metric: (service, name, labels) => readCounter(service.adminPort, name, labels),
      async stop() {
        closeClient(users);
        closeClient(rooms);
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function readCounter(adminPort: number, name: string, labels: Readonly<Record<string, string>>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length, line.lastIndexOf(" "));
    if (wanted.every((label) => labelText.includes(label))) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

// Peer: a NestJS gRPC microservice (Transport.GRPC; @grpc/grpc-js +
// @grpc/proto-loader underneath) with one controller (nest/user.controller.mjs),
// in plain ESM: decorators applied with Reflect.decorate, no TypeScript build.
//   node bench/peers/nest.mjs --port <n>
import { setTimeout } from "node:timers";
import "reflect-metadata";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { NestFactory } from "@nestjs/core";
import { Transport } from "@nestjs/microservices";
import { parsePort, ready } from "./dataset.mjs";
import { AppModule } from "./nest/app.module.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
// Nest does not expose the port grpc-js bound, so for --port 0 pick a free one first.
const port = parsePort() || (await freePort());

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

const app = await NestFactory.createMicroservice(AppModule, {
  transport: Transport.GRPC,
  // Keep stdout to the single READY line (Nest logs its start-up otherwise).
  logger: false,
  options: {
    package: "trellis.user.v1",
    protoPath: "trellis/user/v1/user.proto",
    url: `127.0.0.1:${port}`,
    loader: {
      includeDirs: [root + "packages/api/proto", root + "packages/kit/proto"],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  },
});
process.once("SIGTERM", async () => {
  setTimeout(() => process.exit(0), 2000).unref();
  await app.close();
  process.exit(0);
});
await app.listen();
ready(port);

// The machine and the tool versions, recorded with every result set.
import os from "node:os";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { run } from "./util.mjs";

const require = createRequire(import.meta.url);

function pkgVersion(name) {
  try {
    return require(`${name}/package.json`).version;
  } catch {
    try {
      // Packages whose "exports" hide package.json: walk from the resolved entry.
      const entry = require.resolve(name);
      const root = entry.slice(0, entry.lastIndexOf(`node_modules/${name}/`) + `node_modules/${name}/`.length);
      return JSON.parse(readFileSync(root + "package.json", "utf8")).version;
    } catch {
      return null;
    }
  }
}

async function firstLine(cmd, args, re) {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    const text = r.stdout + r.stderr;
    if (re) return re.exec(text)?.[1] ?? null;
    return text.split("\n")[0].trim() || null;
  } catch {
    return null;
  }
}

export async function machineInfo() {
  const cpus = os.cpus();
  let governor = null;
  try {
    governor = readFileSync("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "utf8").trim();
  } catch {
    /* not exposed (VMs, containers) */
  }
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    hostname: os.hostname(),
    governor,
    loadAverage: os.loadavg(),
  };
}

export async function versions() {
  const ghzPath = await firstLine("sh", ["-c", "command -v ghz"]);
  return {
    node: process.version,
    "@grpc/grpc-js": pkgVersion("@grpc/grpc-js"),
    "@grpc/proto-loader": pkgVersion("@grpc/proto-loader"),
    "@bufbuild/protobuf": pkgVersion("@bufbuild/protobuf"),
    "@connectrpc/connect-node": pkgVersion("@connectrpc/connect-node"),
    "@nestjs/microservices": pkgVersion("@nestjs/microservices"),
    fastify: pkgVersion("fastify"),
    autocannon: pkgVersion("autocannon"),
    go: await firstLine("go", ["version"], /go version (\S+)/),
    // ghz built with `go install tool` carries no -ldflags version; read the module version.
    ghz: ghzPath ? await firstLine("go", ["version", "-m", ghzPath], /\tmod\s+\S+\s+(\S+)/) : null,
    h2load: await firstLine("h2load", ["--version"], /(nghttp2\/\S+)/),
  };
}

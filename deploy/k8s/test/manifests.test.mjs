// The Kubernetes manifests against the services' own code (issue 14: "one source of truth for
// ports and variable names, or a test that compares the manifests with what the services
// read"). For every rendered overlay, each Deployment's container environment (its ConfigMaps,
// literal values, and stand-ins for the pod IP and the database Secret) is fed to the very
// readers runService runs at start (server, discovery, telemetry, client, TLS, auth) and to the
// service's own reader. The test fails when a variable is malformed, when a variable is set
// that nothing reads (a typo or a dead setting), when a port differs between the process and
// its containerPorts, probes, Service, ServiceMonitor and NetworkPolicies, when a client's
// default port differs from its server's, or when the drain budget does not fit
// terminationGracePeriodSeconds.
//
// Input: K8S_RENDERED_DIR/<overlay>.json, each the List a real kube-apiserver returned for
// `kubectl apply --dry-run=server -o json` of the rendered overlay (.ci/k8s.sh validate writes
// them): the objects exactly as the server would store them. Needs `npm run build` (dist).
//   bash .ci/k8s.sh validate       (renders, applies to a real API server, runs this test)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  readServerConfig,
  readDiscoveryConfig,
  readTelemetryConfig,
  readClientConfig,
  readTlsConfig,
} from "../../../packages/kit/dist/config/index.js";
import { readAuthConfig } from "../../../packages/kit/dist/config/auth-config.js";
import { readUserConfig } from "../../../services/user/dist/internal/user-config.js";
import { readChatConfig } from "../../../services/chat/dist/internal/chat-config.js";
import { readEdgeConfig } from "../../../services/edge/dist/internal/edge-config.js";
import { UserService } from "../../../packages/api/dist/gen/trellis/user/v1/user_pb.js";
import { ChatService } from "../../../packages/api/dist/gen/trellis/chat/v1/chat_pb.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const renderedDir = process.env.K8S_RENDERED_DIR;
if (renderedDir === undefined || renderedDir === "") {
  throw new Error(
    "K8S_RENDERED_DIR is not set: run `bash .ci/k8s.sh validate`, which renders every overlay through a real API server and runs this test",
  );
}

/** What each service's main.ts declares: name, default ports, and the clients it makes (registry name -> default port). */
function serviceSpec(name) {
  const source = readFileSync(join(root, "services", name, "main.ts"), "utf8");
  const ports = /ports:\s*\{\s*grpc:\s*(\d+),\s*admin:\s*(\d+)\s*\}/.exec(source);
  assert.ok(ports, `services/${name}/main.ts: no runService ports found`);
  const clients = new Map();
  // client(UserService, "user", { defaultPort: 50051 }) and edge's { service: X, name: "user", defaultPort: 50051 }
  for (const m of source.matchAll(/client\(\w+,\s*"([a-z]+)",\s*\{\s*defaultPort:\s*(\d+)/g)) clients.set(m[1], Number(m[2]));
  for (const m of source.matchAll(/name:\s*"([a-z]+)",\s*defaultPort:\s*(\d+)/g)) clients.set(m[1], Number(m[2]));
  return { grpcPort: Number(ports[1]), adminPort: Number(ports[2]), clients };
}

/** The service's own reader and the health entry its readiness probe names ("": the whole server). */
const SERVICES = {
  user: { read: readUserConfig, health: UserService.typeName },
  chat: { read: readChatConfig, health: ChatService.typeName },
  edge: { read: readEdgeConfig, health: "" },
};

// Variables read by Node or a library rather than by Trellis' readers.
const READ_ELSEWHERE = new Set(["NODE_ENV", "NODE_OPTIONS"]);

/** Everything runService reads at start for `name`, on a recording env; returns [values, names read]. */
function readAsRunService(name, spec, env) {
  const read = new Set();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return target[key];
    },
  });
  const values = {
    server: readServerConfig({ grpcPort: spec.grpcPort, adminPort: spec.adminPort }, recording),
    discovery: readDiscoveryConfig(recording),
    own: SERVICES[name].read(recording),
    telemetry: readTelemetryConfig(recording, false),
    client: readClientConfig(recording),
    tls: readTlsConfig(name, recording),
    auth: readAuthConfig(recording),
  };
  for (const client of spec.clients.keys()) void recording[`${client.toUpperCase()}_SERVICE_TARGET`];
  return [values, read];
}

/** The container's environment as the kubelet would give it (Secrets and the pod IP by stand-ins). */
function containerEnv(container, configMaps, where) {
  const env = {};
  for (const from of container.envFrom ?? []) {
    assert.ok(from.configMapRef, `${where}: envFrom other than a ConfigMap`);
    const cm = configMaps.get(from.configMapRef.name);
    assert.ok(cm, `${where}: envFrom names ConfigMap ${from.configMapRef.name}, which the overlay does not have`);
    Object.assign(env, cm.data);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "status.podIP") env[e.name] = "10.244.0.7";
    else if (e.valueFrom?.secretKeyRef && e.name === "DATABASE_URL")
      env[e.name] = "postgresql://trellis:secret@postgres.example:5432/trellis";
    else assert.fail(`${where}: ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which this test has no stand-in for`);
  }
  return env;
}

const overlays = readdirSync(renderedDir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();
assert.ok(overlays.length >= 3, `K8S_RENDERED_DIR has ${overlays.length} rendered overlays, expected dev, prod and mesh`);

for (const overlay of overlays) {
  const list = JSON.parse(readFileSync(join(renderedDir, `${overlay}.json`), "utf8"));
  const items = list.kind === "List" ? list.items : [list];
  const byKind = (kind) => items.filter((o) => o.kind === kind);
  const configMaps = new Map(byKind("ConfigMap").map((cm) => [cm.metadata.name, cm]));
  const deployments = byKind("Deployment");
  const mesh = byKind("PeerAuthentication").length > 0;

  test(`${overlay}: every service has a Deployment`, () => {
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), Object.keys(SERVICES).sort());
  });

  for (const deployment of deployments) {
    const name = deployment.metadata.name;
    const where = `${overlay}/${name}`;
    const spec = serviceSpec(name);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const containerPort = (portName) => container.ports.find((p) => p.name === portName)?.containerPort;

    test(`${where}: every variable is valid and read by the service`, () => {
      const env = containerEnv(container, configMaps, where);
      const [, read] = readAsRunService(name, spec, env);
      const unread = Object.keys(env).filter((v) => !read.has(v) && !READ_ELSEWHERE.has(v));
      assert.deepEqual(unread, [], `${where}: set but read by nothing in the ${name} process`);
    });

    test(`${where}: the process listens where the manifests point`, () => {
      const env = containerEnv(container, configMaps, where);
      const [values] = readAsRunService(name, spec, env);
      // The manifests' ports are the code's defaults: one set of numbers everywhere.
      assert.equal(values.server.grpcPort, spec.grpcPort, `${where}: GRPC_PORT differs from main.ts' default`);
      assert.equal(values.server.adminPort, spec.adminPort, `${where}: ADMIN_PORT differs from main.ts' default`);
      assert.equal(containerPort("grpc"), values.server.grpcPort);
      assert.equal(containerPort("admin"), values.server.adminPort);
      if (name === "edge") assert.equal(containerPort("http"), values.own.httpPort);
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        assert.equal(container[probe]?.grpc?.port, values.server.grpcPort, `${where}: ${probe} is not a gRPC probe on the gRPC port`);
      }
      assert.equal(container.readinessProbe.grpc.service ?? "", SERVICES[name].health, `${where}: readiness names another health service`);
    });

    test(`${where}: its Service, ServiceMonitor and NetworkPolicy use the same ports`, () => {
      const service = byKind("Service").find((s) => s.metadata.name === name);
      assert.ok(service, `${where}: no Service`);
      assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
      for (const port of service.spec.ports) {
        const target = typeof port.targetPort === "string" ? containerPort(port.targetPort) : port.targetPort;
        assert.ok(target !== undefined, `${where}: Service port ${port.name} targets ${port.targetPort}, not a containerPort`);
        assert.equal(port.port, target, `${where}: Service port ${port.name} (${port.port}) differs from the container's (${target})`);
      }
      // Client-side balancing needs every pod's address (DNS discovery); in the mesh the sidecar balances.
      if (name !== "edge")
        assert.equal(service.spec.clusterIP === "None", !mesh, `${where}: headless outside the mesh, ClusterIP inside it`);
      const monitor = byKind("ServiceMonitor").find((m) => m.metadata.name === name);
      assert.ok(monitor, `${where}: no ServiceMonitor`);
      const scraped = monitor.spec.endpoints.map((e) => service.spec.ports.find((p) => p.name === e.port)?.port);
      assert.deepEqual(scraped, [spec.adminPort], `${where}: the ServiceMonitor does not scrape the admin port`);
      const policy = byKind("NetworkPolicy").find((p) => p.metadata.name === name);
      assert.ok(policy, `${where}: no NetworkPolicy`);
      const open = new Set(container.ports.map((p) => p.containerPort));
      for (const rule of policy.spec.ingress ?? []) {
        for (const p of rule.ports ?? []) assert.ok(open.has(p.port), `${where}: the NetworkPolicy opens ${p.port}, where nothing listens`);
      }
    });

    test(`${where}: its clients dial their servers' ports, and policies let them`, () => {
      for (const [client, port] of spec.clients) {
        const server = serviceSpec(client);
        assert.equal(port, server.grpcPort, `${where}: its ${client} client's default port ${port} is not ${client}'s ${server.grpcPort}`);
        const policy = byKind("NetworkPolicy").find((p) => p.metadata.name === name);
        const allowed = (policy.spec.egress ?? []).some(
          (rule) =>
            (rule.to ?? []).some((to) => to.podSelector?.matchLabels?.["app.kubernetes.io/name"] === client) &&
            (rule.ports ?? []).some((p) => p.port === server.grpcPort),
        );
        assert.ok(allowed, `${where}: no egress to ${client}:${server.grpcPort}`);
        const serverPolicy = byKind("NetworkPolicy").find((p) => p.metadata.name === client);
        const admitted = (serverPolicy.spec.ingress ?? []).some(
          (rule) =>
            (rule.from ?? []).some((from) => from.podSelector?.matchLabels?.["app.kubernetes.io/name"] === name) &&
            (rule.ports ?? []).some((p) => p.port === server.grpcPort),
        );
        assert.ok(admitted, `${overlay}/${client}: no ingress from ${name} on ${server.grpcPort}`);
      }
    });

    test(`${where}: rollouts and disruptions never go below the wanted count, and the drain fits the grace period`, () => {
      assert.equal(deployment.spec.strategy.type, "RollingUpdate");
      assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
      const pdb = byKind("PodDisruptionBudget").find((p) => p.metadata.name === name);
      assert.ok(pdb, `${where}: no PodDisruptionBudget`);
      assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
      const hpa = byKind("HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef.name === name);
      assert.ok(hpa, `${where}: no HorizontalPodAutoscaler`);
      assert.deepEqual(hpa.spec.metrics.map((m) => m.resource.name).sort(), ["cpu", "memory"]);
      assert.ok(hpa.spec.minReplicas <= deployment.spec.replicas, `${where}: HPA minReplicas above the Deployment's replicas`);
      // SIGTERM comes after preStop; then SHUTDOWN_DELAY_MS, SHUTDOWN_GRACE_MS for calls, and up
      // to 5 s to close servers, pools and flush telemetry; all before SIGKILL.
      const env = containerEnv(container, configMaps, where);
      const [values] = readAsRunService(name, spec, env);
      const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const drain = preStop + (values.server.shutdownDelayMs + values.server.shutdownGraceMs) / 1000 + 5;
      assert.ok(
        drain <= pod.terminationGracePeriodSeconds,
        `${where}: drain ${drain} s > terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds}`,
      );
      // A pod draining must not be restarted by its liveness probe mid-drain.
      const live = container.livenessProbe;
      assert.ok(live.periodSeconds * live.failureThreshold >= drain - preStop, `${where}: liveness would kill a draining pod`);
    });
  }
}

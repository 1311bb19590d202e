// The prod overlay on a live control plane (issue 14 item 5): a real kube-apiserver,
// kube-controller-manager and kube-scheduler v1.32, and kwok's fake nodes (pods are scheduled,
// bound and reported Running/Ready by kwok; no container runs). Proven here:
//   - the overlay applies for real and every Deployment rolls out (scheduled across 3 nodes in
//     3 zones with the hard hostname spread);
//   - a rolling update of user never has fewer ready, non-terminating pods than wanted
//     (maxUnavailable 0) nor more than one extra (maxSurge 1), watched event by event;
//   - the watch does see a dip when one is allowed (control: chat rolled with maxUnavailable 1),
//     so the first result is not vacuous;
//   - the PodDisruptionBudget: with the nodes cordoned (the evicted pod cannot be replaced), one
//     eviction is allowed and the next is refused (429), and allowed again once a replacement
//     is ready.
// Needs KUBECONFIG (a cluster with kwok managing nodes annotated kwok.x-k8s.io/node=fake, the
// ServiceMonitor CRD installed) and K8S_PROD_YAML (the rendered prod overlay).
//   bash .ci/k8s.sh live       (starts all of it, runs this test, stops it)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { onProcessEnd } from "../../../packages/kit/dist/testing/index.js";

const run = promisify(execFile);
const NS = "trellis";
const prodYaml = process.env.K8S_PROD_YAML;
if (!process.env.KUBECONFIG || !prodYaml) throw new Error("KUBECONFIG and K8S_PROD_YAML must be set: run `bash .ci/k8s.sh live`");

async function kubectl(args, input) {
  const child = run("kubectl", args, { timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin.end(input);
  const { stdout } = await child;
  return stdout;
}

/** kubectl, expected to fail: its stderr. */
async function kubectlFails(args, input) {
  try {
    await kubectl(args, input);
  } catch (error) {
    return String(error.stderr);
  }
  assert.fail(`kubectl ${args.join(" ")} succeeded; it should have been refused`);
}

function fakeNode(i) {
  const zone = `zone-${"abc"[i]}`;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: `kwok-node-${i}`,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": `kwok-node-${i}`,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone,
        type: "kwok",
      },
    },
    status: {
      allocatable: { cpu: "16", memory: "64Gi", pods: "110" },
      capacity: { cpu: "16", memory: "64Gi", pods: "110" },
    },
  };
}

/**
 * Watches the pods of one app from now on, event by event (`kubectl get -w`), and keeps the
 * fewest ready non-terminating pods and the most non-terminating pods seen.
 */
function watchPods(app) {
  const child = spawn(
    "kubectl",
    ["-n", NS, "get", "pods", "-l", `app.kubernetes.io/name=${app}`, "-w", "--output-watch-events", "-o", "json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const release = onProcessEnd(() => child.kill("SIGKILL"));
  child.once("exit", release);
  const pods = new Map();
  const state = { minReady: Infinity, maxPods: 0, events: 0, initial: undefined, stderr: "" };
  let pending = "";
  // Resolved on every event: settle() re-checks its condition then (no polling).
  let onEvent = () => undefined;
  const ready = (p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  child.stderr.on("data", (d) => (state.stderr += d));
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop();
    for (const line of lines) {
      // kubectl prints each watch event as one line of JSON.
      if (line.trim() === "") continue;
      const event = JSON.parse(line);
      if (event.type === "DELETED") pods.delete(event.object.metadata.name);
      else pods.set(event.object.metadata.name, event.object);
      state.events += 1;
      onEvent();
      const live = [...pods.values()].filter((p) => !p.metadata.deletionTimestamp);
      const readyCount = [...pods.values()].filter(ready).length;
      if (state.initial === undefined) continue;
      state.minReady = Math.min(state.minReady, readyCount);
      state.maxPods = Math.max(state.maxPods, live.length);
    }
  });
  return {
    state,
    /** Starts counting once the initial listing (one ADDED per existing pod) is in. */
    async settle(expected) {
      await new Promise((resolve, reject) => {
        const check = () => {
          if (pods.size < expected || [...pods.values()].filter(ready).length < expected) return;
          onEvent = () => undefined;
          resolve();
        };
        onEvent = check;
        child.once("exit", () => reject(new Error(`kubectl get -w ended: ${state.stderr}`)));
        check();
      });
      state.initial = pods.size;
    },
    stop() {
      child.kill();
      release();
    },
  };
}

async function replicas(name) {
  return Number(await kubectl(["-n", NS, "get", "deployment", name, "-o", "jsonpath={.spec.replicas}"]));
}

async function rolloutRestart(name) {
  await kubectl(["-n", NS, "rollout", "restart", `deployment/${name}`]);
  await kubectl(["-n", NS, "rollout", "status", `deployment/${name}`, "--timeout=150s"]);
}

before(async () => {
  await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [0, 1, 2].map(fakeNode) }));
  await kubectl(["wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=60s"]);
  await kubectl(["create", "namespace", NS]);
  // prod requires PostgreSQL: the Secret is managed outside the repository.
  await kubectl([
    "-n",
    NS,
    "create",
    "secret",
    "generic",
    "trellis-database",
    "--from-literal=user-url=postgresql://u:p@db:5432/user",
    "--from-literal=chat-url=postgresql://u:p@db:5432/chat",
  ]);
  await kubectl(["apply", "-f", prodYaml]);
  for (const name of ["user", "chat", "edge"]) await kubectl(["-n", NS, "rollout", "status", `deployment/${name}`, "--timeout=150s"]);
});

after(async () => {
  await kubectl(["uncordon", "-l", "type=kwok"]).catch(() => undefined);
});

test("the prod overlay runs: every pod scheduled, user spread one per node", async () => {
  const pods = JSON.parse(await kubectl(["-n", NS, "get", "pods", "-o", "json"])).items;
  const byApp = (app) => pods.filter((p) => p.metadata.labels["app.kubernetes.io/name"] === app);
  assert.equal(byApp("user").length, 3);
  assert.equal(byApp("chat").length, 2);
  assert.equal(byApp("edge").length, 2);
  for (const p of pods) assert.equal(p.status.phase, "Running", `${p.metadata.name} is ${p.status.phase}`);
  // topologySpreadConstraints on kubernetes.io/hostname are DoNotSchedule in prod.
  assert.equal(new Set(byApp("user").map((p) => p.spec.nodeName)).size, 3);
  const hpa = JSON.parse(await kubectl(["-n", NS, "get", "hpa", "user", "-o", "json"]));
  assert.equal(hpa.spec.minReplicas, 3);
});

test(
  "a rolling update of user never has fewer ready pods than wanted (maxUnavailable 0) nor more than one extra",
  { timeout: 180_000 },
  async () => {
    const wanted = await replicas("user");
    const watch = watchPods("user");
    try {
      await watch.settle(wanted);
      await rolloutRestart("user");
    } finally {
      watch.stop();
    }
    console.log(
      `user rollout: ${watch.state.events} pod events, fewest ready ${watch.state.minReady}/${wanted}, most pods ${watch.state.maxPods}`,
    );
    assert.ok(
      watch.state.events > wanted * 3,
      `too few pod events (${watch.state.events}) for a rollout of ${wanted} pods: ${watch.state.stderr}`,
    );
    assert.equal(watch.state.minReady, wanted);
    assert.equal(watch.state.maxPods, wanted + 1);
  },
);

test("control: the same watch sees the dip that maxUnavailable 1 allows (chat)", { timeout: 180_000 }, async () => {
  const wanted = await replicas("chat");
  await kubectl([
    "-n",
    NS,
    "patch",
    "deployment",
    "chat",
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { strategy: { rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } } } }),
  ]);
  const watch = watchPods("chat");
  try {
    await watch.settle(wanted);
    await rolloutRestart("chat");
  } finally {
    watch.stop();
  }
  console.log(`chat rollout with maxUnavailable 1: fewest ready ${watch.state.minReady}/${wanted}`);
  assert.equal(watch.state.minReady, wanted - 1);
});

test("the PodDisruptionBudget allows one eviction at a time", { timeout: 180_000 }, async () => {
  const eviction = (pod) => JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace: NS } });
  const evict = (pod) => kubectl(["create", "--raw", `/api/v1/namespaces/${NS}/pods/${pod}/eviction`, "-f", "-"], eviction(pod));
  await kubectl(["-n", NS, "wait", "--for=jsonpath={.status.disruptionsAllowed}=1", "pdb/user", "--timeout=60s"]);
  // Cordoned: an evicted pod's replacement cannot be scheduled, so the budget stays spent.
  await kubectl(["cordon", "-l", "type=kwok"]);
  const pods = (
    await kubectl(["-n", NS, "get", "pods", "-l", "app.kubernetes.io/name=user", "-o", "jsonpath={.items[*].metadata.name}"])
  ).split(" ");
  await evict(pods[0]);
  const refused = await kubectlFails(
    ["create", "--raw", `/api/v1/namespaces/${NS}/pods/${pods[1]}/eviction`, "-f", "-"],
    eviction(pods[1]),
  );
  assert.match(refused, /disruption budget|TooManyRequests|429/i, refused);
  await kubectl(["uncordon", "-l", "type=kwok"]);
  await kubectl(["-n", NS, "rollout", "status", "deployment/user", "--timeout=120s"]);
  await kubectl(["-n", NS, "wait", "--for=jsonpath={.status.disruptionsAllowed}=1", "pdb/user", "--timeout=60s"]);
  await evict(pods[1]);
});

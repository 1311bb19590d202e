// The profile step of `npm run bench`: each profiled peer serves a fixed number of tiny
// unary calls (h2load -c 1 -m 100, server on core 0, load on core 1) under V8's CPU
// profiler, started after a warm-up; the result is CPU time per call by layer of the stack
// and a flame graph per peer, so the report can say where Trellis' microseconds go
// compared with a bare grpc-js server.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { flameGraphSvg, loadProfile, timeByLayer, topFunctions } from "./cpu-profile.mjs";
import { startPeer } from "./peers.mjs";
import { cpuSeconds, run, sleep, tail } from "./util.mjs";

const HOOK = fileURLToPath(new URL("./profile-hook.mjs", import.meta.url));
const CLIENT_CORE = "1";

async function h2loadCount(target, port, calls) {
  const args = ["-c", CLIENT_CORE, "h2load", "-c", "1", "-m", "100", "-n", String(calls), "-d", target.dataFile];
  for (const h of target.headers) args.push("-H", h);
  args.push(`http://127.0.0.1:${port}${target.path}`);
  const r = await run("taskset", args, { timeoutMs: 300_000 });
  const m = /(\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`h2load failed (exit ${r.code}): ${tail(r.stderr + r.stdout)}`);
  if (Number(m[1]) !== calls) throw new Error(`h2load: ${m[1]} of ${calls} calls succeeded`);
}

async function waitForFile(file, timeoutMs) {
  for (let waited = 0; waited < timeoutMs; waited += 100) {
    if (existsSync(file)) return;
    await sleep(100);
  }
  throw new Error(`no profile written to ${file} within ${timeoutMs / 1000} s`);
}

/**
 * Profiles one peer. Returns { calls, cpuUsPerCall (from /proc, profiler on),
 * busyUsPerCall (profiler clock), layers: [{ id, label, usPerCall }], top: { layerId: [...] },
 * flame: file name }.
 */
export async function profilePeer({ peersDir, peer, port, target, calls, outDir, tmpDir, title }) {
  const profileFile = join(tmpDir, `${peer.id}.cpuprofile`);
  const server = await startPeer(peersDir, peer, port, {
    nodeArgs: ["--import", HOOK],
    env: { TRELLIS_PROFILE_OUT: profileFile },
  });
  try {
    await h2loadCount(target, server.port, Math.max(1000, Math.round(calls / 4)));
    server.signal("SIGUSR2");
    await sleep(300);
    const c0 = cpuSeconds(server.pid);
    await h2loadCount(target, server.port, calls);
    const c1 = cpuSeconds(server.pid);
    server.signal("SIGUSR2");
    await waitForFile(profileFile, 30_000);
    const profile = loadProfile(profileFile);
    const { total, layers } = timeByLayer(profile);
    const flame = `tiny-unary-flame-${peer.id}.svg`;
    writeFileSync(join(outDir, flame), flameGraphSvg(profile, { title }));
    const top = {};
    for (const l of layers) if (l.us > 0) top[l.id] = topFunctions(profile, l.id).map((f) => ({ name: f.name, usPerCall: f.us / calls }));
    return {
      calls,
      cpuUsPerCall: c0 !== null && c1 !== null ? ((c1 - c0) * 1e6) / calls : null,
      busyUsPerCall: total / calls,
      layers: layers.map((l) => ({ id: l.id, label: l.label, usPerCall: l.us / calls })),
      top,
      flame,
    };
  } finally {
    await server.stop();
  }
}

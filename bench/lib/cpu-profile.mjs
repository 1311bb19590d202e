// Reading V8 .cpuprofile files (node --cpu-prof): self time per layer of the stack
// (grpc-js, Node's HTTP/2, the kit, pino, GC …) and a flame graph as SVG.
import { readFileSync } from "node:fs";

/** Layers, first match wins; tested against the frame's URL, then its function name. */
const LAYERS = [
  { id: "gc", label: "garbage collector", color: "#b0b0b0", test: (url, fn) => fn === "(garbage collector)" },
  { id: "kit-server", label: "kit: server core", color: "#2f7ed8", test: (url) => /packages\/kit\/dist\/server\//.test(url) },
  { id: "kit-interceptors", label: "kit: interceptors", color: "#5a9be6", test: (url) => /packages\/kit\/dist\/interceptors\//.test(url) },
  { id: "kit-codec", label: "kit: compiled codec", color: "#8bb8ee", test: (url) => /packages\/kit\/dist\/codec\//.test(url) },
  {
    id: "kit-other",
    label: "kit: other (validation, errors, logging setup)",
    color: "#a9c9f0",
    test: (url) => /packages\/kit\/dist\//.test(url),
  },
  {
    id: "service",
    label: "user service handler + repository",
    color: "#3aa655",
    test: (url) => /services\/user\/dist\//.test(url) || /bench\/peers\//.test(url),
  },
  { id: "logging", label: "pino + log destination", color: "#e6a23c", test: (url) => /\/(pino|sonic-boom|on-exit-leak-free)\//.test(url) },
  {
    id: "protobuf",
    label: "protobuf runtime (protobuf-es / protobufjs)",
    color: "#c678dd",
    test: (url) => /@bufbuild\/protobuf|protobufjs|proto-loader/.test(url),
  },
  { id: "grpc-js", label: "@grpc/grpc-js", color: "#d9534f", test: (url) => /@grpc\/grpc-js/.test(url) },
  {
    id: "node-http2",
    label: "Node: http2 + net + streams",
    color: "#f0ad4e",
    test: (url) =>
      /^node:(internal\/)?(http2|net|stream|internal\/streams|internal\/stream_base|internal\/http2)/.test(url) ||
      /^node:internal\/(streams|http2|stream_base_commons)/.test(url),
  },
  { id: "node-other", label: "Node: event loop, timers, promises, other", color: "#f7d08a", test: (url) => url.startsWith("node:") },
  { id: "native", label: "V8/native (no JS frame)", color: "#999999", test: () => true },
];

/** Loads a .cpuprofile and attributes each sample's time to its innermost frame. */
export function loadProfile(file) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return { nodes, parent, self };
}

function layerOf(frame) {
  const fn = frame.functionName;
  return LAYERS.find((l) => l.test(frame.url, fn)) ?? LAYERS[LAYERS.length - 1];
}

const IGNORED = new Set(["(idle)", "(program)", "(root)"]);

/** Busy time (µs, profiler clock) per layer, by self time; idle and (program) excluded. */
export function timeByLayer({ nodes, self }) {
  const byLayer = new Map(LAYERS.map((l) => [l.id, 0]));
  let total = 0;
  for (const [id, t] of self) {
    const frame = nodes.get(id).callFrame;
    if (IGNORED.has(frame.functionName)) continue;
    byLayer.set(layerOf(frame).id, byLayer.get(layerOf(frame).id) + t);
    total += t;
  }
  return { total, layers: LAYERS.map((l) => ({ id: l.id, label: l.label, us: byLayer.get(l.id) })) };
}

/** The heaviest functions of one layer by self time. */
export function topFunctions({ nodes, self }, layerId, n = 5) {
  const byFn = new Map();
  for (const [id, t] of self) {
    const frame = nodes.get(id).callFrame;
    if (IGNORED.has(frame.functionName) || layerOf(frame).id !== layerId) continue;
    const key = `${frame.functionName || "(anonymous)"} (${frame.url.split("/").slice(-2).join("/")}:${frame.lineNumber + 1})`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
  }
  return [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, us }));
}

const escapeXml = (s) => s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);

/**
 * A flame graph (root at the bottom, callees above, width = time including
 * callees) as SVG. Frames with the same name under the same caller are merged;
 * frames under `minShare` of the total are left out. Colour = layer.
 */
export function flameGraphSvg({ nodes, self }, { title, width = 1200, rowHeight = 16, minShare = 0.002 } = {}) {
  // Merge the profile tree by call path.
  const root = { name: "all", layer: null, total: 0, children: new Map() };
  const rootNode = [...nodes.values()].find((n) => n.callFrame.functionName === "(root)");
  const walk = (nodeId, into) => {
    const node = nodes.get(nodeId);
    const frame = node.callFrame;
    if (IGNORED.has(frame.functionName) && frame.functionName !== "(root)") return 0;
    let target = into;
    if (frame.functionName !== "(root)") {
      const name = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-2).join("/")}:${frame.lineNumber + 1}`;
      target = into.children.get(name);
      if (!target) {
        target = { name, layer: layerOf(frame), total: 0, children: new Map() };
        into.children.set(name, target);
      }
    }
    let total = self.get(nodeId) ?? 0;
    for (const c of node.children ?? []) total += walk(c, target);
    if (target !== into) target.total += total;
    return total;
  };
  root.total = walk(rootNode.id, root);
  const rows = [];
  const place = (frame, x, depth) => {
    const w = (frame.total / root.total) * width;
    rows.push({ frame, x, w, depth });
    let cx = x;
    for (const child of [...frame.children.values()].sort((a, b) => b.total - a.total)) {
      if (child.total / root.total < minShare) continue;
      place(child, cx, depth + 1);
      cx += (child.total / root.total) * width;
    }
  };
  place(root, 0, 0);
  const depth = Math.max(...rows.map((r) => r.depth)) + 1;
  const top = 24;
  const height = top + depth * rowHeight + 4;
  const rect = ({ frame, x, w, depth: d }) => {
    const y = height - 4 - (d + 1) * rowHeight;
    const share = ((frame.total / root.total) * 100).toFixed(1);
    const label =
      w > 40
        ? `<text x="${(x + 3).toFixed(1)}" y="${y + 12}" font-size="10">${escapeXml(frame.name.slice(0, Math.floor(w / 6)))}</text>`
        : "";
    return `<g><title>${escapeXml(frame.name)} — ${share} %</title><rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(w - 0.5, 0.5).toFixed(1)}" height="${rowHeight - 1}" fill="${frame.layer?.color ?? "#dddddd"}"/>${label}</g>`;
  };
  const perRow = 4;
  const column = width / perRow;
  const legend = LAYERS.map(
    (l, i) =>
      `<rect x="${8 + (i % perRow) * column}" y="${height + 6 + Math.floor(i / perRow) * 16}" width="10" height="10" fill="${l.color}"/><text x="${22 + (i % perRow) * column}" y="${height + 15 + Math.floor(i / perRow) * 16}" font-size="10">${escapeXml(l.label)}</text>`,
  ).join("");
  const fullHeight = height + 8 + Math.ceil(LAYERS.length / perRow) * 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${fullHeight}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="16" font-size="13">${escapeXml(title ?? "CPU flame graph")} (width = share of busy CPU time; hover for names)</text>
${rows.map(rect).join("\n")}
${legend}
</svg>
`;
}

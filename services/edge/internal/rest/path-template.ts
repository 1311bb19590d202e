/**
 * google.api.http path templates (google/api/http.proto):
 *   Template = "/" Segments [ Verb ] ; Segment = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ; Verb = ":" LITERAL
 */

type Segment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "any" }
  | { readonly kind: "rest" }
  | { readonly kind: "variable"; readonly field: string; readonly segments: readonly Segment[] };

/** A compiled template. */
export interface PathTemplate {
  readonly source: string;
  /** The variables' field paths, in order (`user.id`). */
  readonly variables: readonly string[];
  /** The variable values of a matching request path (percent-decoded), or undefined. */
  match(path: string): ReadonlyMap<string, string> | undefined;
}

/** Compiles a template; throws with the template in the message when it is malformed. */
export function compilePathTemplate(source: string): PathTemplate {
  if (!source.startsWith("/")) throw new Error(`path template "${source}" must start with /`);
  let body = source.slice(1);
  let verb: string | undefined;
  const lastSlash = body.lastIndexOf("/");
  const lastClose = body.lastIndexOf("}");
  const colon = body.lastIndexOf(":");
  if (colon > lastSlash && colon > lastClose) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
  }
  const segments = parseSegments(splitTemplate(body, source), source);
  const variables = segments.flatMap((s) => (s.kind === "variable" ? [s.field] : []));
  return {
    source,
    variables,
    match(path) {
      let rest = path.startsWith("/") ? path.slice(1) : path;
      if (verb !== undefined) {
        if (!rest.endsWith(`:${verb}`)) return undefined;
        rest = rest.slice(0, -verb.length - 1);
      }
      const parts = rest === "" ? [] : rest.split("/");
      const values = new Map<string, string>();
      return matchSegments(segments, parts, 0, values) === parts.length ? values : undefined;
    },
  };
}

// Splits on "/" outside braces.
function splitTemplate(body: string, source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "/" && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw new Error(`path template "${source}" has unbalanced braces`);
  }
  if (depth !== 0) throw new Error(`path template "${source}" has unbalanced braces`);
  out.push(body.slice(start));
  return out;
}

function parseSegments(parts: readonly string[], source: string): Segment[] {
  return parts.map((part): Segment => {
    if (part === "*") return { kind: "any" };
    if (part === "**") return { kind: "rest" };
    if (part.startsWith("{")) {
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const field = eq === -1 ? inner : inner.slice(0, eq);
      if (!/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(field)) throw new Error(`path template "${source}" has a bad variable "${inner}"`);
      const segments: Segment[] = eq === -1 ? [{ kind: "any" }] : parseSegments(inner.slice(eq + 1).split("/"), source);
      return { kind: "variable", field, segments };
    }
    if (part === "" || /[{}*]/.test(part)) throw new Error(`path template "${source}" has a bad segment "${part}"`);
    return { kind: "literal", value: part };
  });
}

/** Matches `segments` against `parts` from `at`; returns the index after the match, or -1. */
function matchSegments(segments: readonly Segment[], parts: readonly string[], at: number, values: Map<string, string>): number {
  let i = at;
  for (let s = 0; s < segments.length; s++) {
    const segment = segments[s]!;
    switch (segment.kind) {
      case "literal":
        if (parts[i] === undefined || decode(parts[i]!, true) !== segment.value) return -1;
        i++;
        break;
      case "any":
        if (parts[i] === undefined || parts[i] === "") return -1;
        i++;
        break;
      case "rest":
        // "**" takes what the segments after it leave.
        i = parts.length - countFixed(segments.slice(s + 1));
        if (i < at) return -1;
        break;
      case "variable": {
        const start = i;
        const end = matchSegments(segment.segments, parts, i, values);
        if (end < 0) return -1;
        const single = end - start === 1;
        const raw = parts.slice(start, end).join("/");
        // One segment: fully decoded; several: "/" stays escaped (http.proto's rule).
        const value = decode(raw, single);
        if (value === undefined) return -1;
        values.set(segment.field, value);
        i = end;
        break;
      }
    }
  }
  return i;
}

function countFixed(segments: readonly Segment[]): number {
  return segments.reduce((n, s) => n + (s.kind === "variable" ? countFixed(s.segments) : s.kind === "rest" ? 0 : 1), 0);
}

function decode(text: string, all: boolean): string | undefined {
  try {
    return all ? decodeURIComponent(text) : text.replace(/%(?!2[Ff])[0-9A-Fa-f]{2}/g, (m) => decodeURIComponent(m));
  } catch {
    return undefined;
  }
}

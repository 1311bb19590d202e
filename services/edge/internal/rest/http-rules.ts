import {
  getOption,
  hasOption,
  ScalarType,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  type JsonObject,
  type JsonValue,
} from "@bufbuild/protobuf";
import { http } from "@trellis/kit/gen/google/api/annotations_pb.js";
import type { HttpRule } from "@trellis/kit/gen/google/api/http_pb.js";
import { compilePathTemplate, type PathTemplate } from "./path-template.js";

/** One REST binding of a method (a google.api.http rule or one of its additional_bindings). */
export interface RestBinding {
  readonly method: DescMethod;
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** "" none, "*" the whole message, else a top-level field name. */
  readonly body: string;
  /** "" the whole response, else the response field to return. */
  readonly responseBody: string;
}

/** What a path matched. */
export type RestMatch =
  | { readonly kind: "match"; readonly binding: RestBinding; readonly variables: ReadonlyMap<string, string> }
  | { readonly kind: "wrong-method"; readonly allowed: readonly string[] }
  | { readonly kind: "none" };

/** The REST routes of a set of services. */
export interface RestRoutes {
  readonly bindings: readonly RestBinding[];
  match(httpMethod: string, path: string): RestMatch;
}

/** A request that cannot become the method's message. */
export class RestRequestError extends Error {
  override readonly name = "RestRequestError";
}

/** Compiles every google.api.http rule of `services`; a malformed rule throws naming the method. */
export function compileRestRoutes(services: readonly DescService[]): RestRoutes {
  const bindings: RestBinding[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      for (const r of [rule, ...rule.additionalBindings]) bindings.push(bindingOf(method, r));
    }
  }
  return {
    bindings,
    match(httpMethod, path) {
      const allowed: string[] = [];
      for (const binding of bindings) {
        const variables = binding.template.match(path);
        if (variables === undefined) continue;
        if (binding.httpMethod === httpMethod) return { kind: "match", binding, variables };
        allowed.push(binding.httpMethod);
      }
      return allowed.length > 0 ? { kind: "wrong-method", allowed } : { kind: "none" };
    },
  };
}

function bindingOf(method: DescMethod, rule: HttpRule): RestBinding {
  const where = `${method.parent.typeName}.${method.name}`;
  const { pattern } = rule;
  let httpMethod: string;
  let path: string;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      httpMethod = pattern.case.toUpperCase();
      path = pattern.value;
      break;
    case "custom":
      httpMethod = pattern.value.kind.toUpperCase();
      path = pattern.value.path;
      break;
    default:
      throw new Error(`${where}: google.api.http rule without a pattern`);
  }
  const template = compilePathTemplate(path);
  for (const variable of template.variables) fieldPath(method.input, variable, where);
  if (rule.body !== "" && rule.body !== "*" && method.input.fields.find((f) => f.name === rule.body) === undefined) {
    throw new Error(`${where}: body "${rule.body}" is not a field of ${method.input.typeName}`);
  }
  return { method, httpMethod, template, body: rule.body, responseBody: rule.responseBody };
}

/** The fields along a dotted path (proto or JSON names); throws naming the path when one is missing. */
function fieldPath(message: DescMessage, path: string, where: string): DescField[] {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of path.split(".")) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === name || f.jsonName === name);
    if (field === undefined) throw new RestRequestError(`${where}: no field "${path}" in ${message.typeName}`);
    fields.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/**
 * The request message's JSON: the body (all of it for "*", or one field),
 * then the path variables, then (unless the body is "*") the query
 * parameters, each at its field path and converted from text by the field's
 * type. Unknown query parameters are refused, as Envoy's transcoder does.
 */
export function requestJson(
  binding: RestBinding,
  variables: ReadonlyMap<string, string>,
  query: URLSearchParams,
  body: JsonValue | undefined,
): JsonObject {
  const input = binding.method.input;
  let json: JsonObject = {};
  if (binding.body === "*") {
    if (body !== undefined) {
      if (typeof body !== "object" || body === null || Array.isArray(body))
        throw new RestRequestError(`the body must be a JSON object (${input.typeName})`);
      json = { ...body };
    }
  } else if (binding.body !== "") {
    if (body !== undefined) json[input.fields.find((f) => f.name === binding.body)!.jsonName] = body;
  } else if (body !== undefined) {
    throw new RestRequestError(`${binding.httpMethod} ${binding.template.source} takes no body`);
  }
  for (const [path, value] of variables) setAt(json, input, path, [value], "path");
  if (binding.body !== "*") {
    const keys = new Set(query.keys());
    for (const key of keys) setAt(json, input, key, query.getAll(key), "query");
  }
  return json;
}

function setAt(json: JsonObject, message: DescMessage, path: string, values: readonly string[], from: "path" | "query"): void {
  let fields: DescField[];
  try {
    fields = fieldPath(message, path, message.typeName);
  } catch {
    throw new RestRequestError(
      from === "query"
        ? `unknown query parameter "${path}": ${message.typeName} has no such field`
        : `no field "${path}" in ${message.typeName}`,
    );
  }
  let target = json;
  for (const field of fields.slice(0, -1)) {
    if (field.fieldKind !== "message") throw new RestRequestError(`"${path}": ${field.name} is not a message`);
    const next = target[field.jsonName] ?? target[field.name];
    if (next !== undefined && (typeof next !== "object" || next === null || Array.isArray(next)))
      throw new RestRequestError(`"${path}": ${field.name} is not an object`);
    const object: JsonObject = (next as JsonObject | undefined) ?? {};
    delete target[field.name];
    target[field.jsonName] = object;
    target = object;
  }
  const last = fields[fields.length - 1]!;
  delete target[last.name];
  if (last.fieldKind === "list") {
    target[last.jsonName] = values.flatMap((v) =>
      last.listKind === "scalar" ? [scalarJson(last.scalar, v, path)] : last.listKind === "enum" ? [enumJson(v)] : [],
    );
    if (last.listKind === "message") throw new RestRequestError(`"${path}" is a list of messages: send it in the body`);
    return;
  }
  if (values.length > 1) throw new RestRequestError(`"${path}" is not repeated but was given ${values.length} times`);
  const value = values[0]!;
  switch (last.fieldKind) {
    case "scalar":
      target[last.jsonName] = scalarJson(last.scalar, value, path);
      return;
    case "enum":
      target[last.jsonName] = enumJson(value);
      return;
    case "message":
      // Well-known types whose JSON is a string (Timestamp, Duration, FieldMask, wrappers).
      if (!last.message.typeName.startsWith("google.protobuf.")) throw new RestRequestError(`"${path}" is a message: send it in the body`);
      target[last.jsonName] = last.message.typeName === "google.protobuf.BoolValue" ? boolJson(value, path) : value;
      return;
    default:
      throw new RestRequestError(`"${path}" is a map: send it in the body`);
  }
}

function scalarJson(type: ScalarType, value: string, path: string): JsonValue {
  if (type === ScalarType.BOOL) return boolJson(value, path);
  // Numbers stay strings: the JSON mapping reads "12" for every integer type, and 64-bit ones need it.
  return value;
}

function boolJson(value: string, path: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new RestRequestError(`"${path}" must be true or false (got "${value}")`);
}

function enumJson(value: string): JsonValue {
  return /^-?\d+$/.test(value) ? Number(value) : value;
}

import type { DescEnum, DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { ScalarType, getOption, hasOption } from "@bufbuild/protobuf";
import { field as rulesOption } from "../gen/trellis/validate/v1/validate_pb.js";
import type { EnumRules, FieldRules, Int32Rules, RepeatedRules, StringRules } from "../gen/trellis/validate/v1/validate_pb.js";

/** One broken rule, shaped like google.rpc.BadRequest.FieldViolation plus a rule id. */
export interface FieldViolation {
  /** Path of the field from the validated message, proto names: `user.email`, `roles[1]`, `items[0].name`. */
  readonly field: string;
  /** A short human sentence, e.g. "must be at most 100 characters". */
  readonly description: string;
  /** Stable rule id in protovalidate style, e.g. `required`, `string.max_len`, `repeated.unique`. */
  readonly reason: string;
}

/**
 * What a validator found: at most {@link MAX_VIOLATIONS} violations, in field
 * order; `omitted` counts the ones past that bound.
 */
export type ValidationResult = readonly FieldViolation[] & { readonly omitted?: number };

/**
 * Checks one message; returns the violations, or one shared frozen empty array
 * when valid.
 */
export type Validator = (message: Message) => ValidationResult;

/**
 * The most violations one validation collects. Past it the rest are only
 * counted: a request with millions of bad list items must cost a count, not
 * millions of objects and a status too large to send (a 3 MB request once
 * built a 44 MB error and crashed the server building the next one).
 */
export const MAX_VIOLATIONS = 100;

/** A compiled message type as held by a {@link ValidatorCache}; opaque to callers. */
export interface ValidatorCacheEntry {
  /** The validator of the message type. */
  readonly validator: Validator;
}

/**
 * Compiled validators by message type name. The caller owns it (one per server or
 * registry, say) and passes it to every {@link compileValidator} call so that a type
 * shared by many requests, or reached recursively, is compiled once.
 */
export type ValidatorCache = Map<string, ValidatorCacheEntry>;

/** Creates an empty {@link ValidatorCache}. */
export function createValidatorCache(): ValidatorCache {
  return new Map();
}

/**
 * Compiles the `trellis.validate.v1.field` rules of a message type and of every
 * message type reachable from it into closures. All rule declarations are checked
 * here, so a bad one throws now (naming the field), never while serving a request.
 * A type with no rules anywhere in its tree gets a validator that only returns the
 * empty array.
 *
 * Field violations follow protovalidate: a `required` field that is empty reports
 * only `required`; an unset field with explicit presence (message, `optional`,
 * oneof member) is not checked further; `ignore_empty` skips the type rules for the
 * zero value.
 *
 * @param schema The message type to validate.
 * @param cache Where compiled types are kept and looked up.
 * @default cache a fresh cache, used for this call only
 */
export function compileValidator(schema: DescMessage, cache: ValidatorCache = createValidatorCache()): Validator {
  const cached = cache.get(schema.typeName);
  if (cached !== undefined) return cached.validator;
  const added: string[] = [];
  try {
    compileTree(schema, cache as Map<string, Entry>, added);
  } catch (error) {
    // A half-compiled tree must not leak into the caller's cache.
    for (const name of added) cache.delete(name);
    throw error;
  }
  return (cache.get(schema.typeName) as Entry).validator;
}

// ---------------------------------------------------------------------------
// Internals. Checks collect violations with paths relative to their own message
// and allocate only when something is wrong; a parent prefixes its children's
// paths in place, so a valid request builds no strings and no arrays.

interface MutableViolation {
  field: string;
  description: string;
  reason: string;
}
/** Collected violations (at most MAX_VIOLATIONS) and how many more were only counted. */
type ViolationList = MutableViolation[] & { omitted?: number };
type Violations = ViolationList | undefined;
type Fields = Record<string, unknown>;
/** Checks one message, paths relative to it. */
type MessageCheck = (message: Fields) => Violations;
/** Checks one field value of a message. */
type FieldCheck = (value: unknown, out: Violations) => Violations;
/** Checks one scalar or enum value: a singular field (`index` -1) or a list item. */
type ValueCheck = (value: never, out: Violations, name: string, index: number) => Violations;

interface Entry extends ValidatorCacheEntry {
  validator: Validator;
  /** Whether the type or any type reachable from it declares rules. */
  readonly hasRules: boolean;
  /** Set once the type is compiled; undefined for types without rules. */
  check: MessageCheck | undefined;
}

interface CompiledField {
  readonly localName: string;
  /** The oneof's local name when the field is a oneof member. */
  readonly oneof: string | undefined;
  readonly check: FieldCheck;
}

const EMPTY: readonly FieldViolation[] = Object.freeze([]);
const noViolations: Validator = () => EMPTY;

function compileTree(root: DescMessage, cache: Map<string, Entry>, added: string[]): void {
  // Pass 1: find the uncompiled types of the tree and which of them lead to rules,
  // a fixed point so that cycles are settled without compiling anything.
  const pending = new Map<string, { desc: DescMessage; children: DescMessage[]; rules: boolean }>();
  const stack = [root];
  for (let desc = stack.pop(); desc !== undefined; desc = stack.pop()) {
    if (pending.has(desc.typeName) || cache.has(desc.typeName)) continue;
    const children: DescMessage[] = [];
    let rules = false;
    for (const field of desc.fields) {
      if (hasOption(field, rulesOption)) rules = true;
      if (field.message !== undefined) {
        children.push(field.message);
        stack.push(field.message);
      }
    }
    pending.set(desc.typeName, { desc, children, rules });
  }
  const hasRules = (name: string): boolean => pending.get(name)?.rules ?? cache.get(name)?.hasRules ?? false;
  for (let changed = true; changed;) {
    changed = false;
    for (const node of pending.values()) {
      if (!node.rules && node.children.some((child) => hasRules(child.typeName))) {
        node.rules = changed = true;
      }
    }
  }
  // Pass 2: register every entry first so that recursive fields can point at
  // theirs, then compile the ones with rules.
  for (const [name, node] of pending) {
    cache.set(name, { validator: noViolations, hasRules: node.rules, check: undefined });
    added.push(name);
  }
  for (const [name, node] of pending) {
    if (!node.rules) continue;
    const entry = cache.get(name) as Entry;
    const check = compileMessage(node.desc, cache);
    entry.check = check;
    entry.validator = (message) => check(message as unknown as Fields) ?? EMPTY;
  }
}

function compileMessage(desc: DescMessage, cache: Map<string, Entry>): MessageCheck {
  const fields: CompiledField[] = [];
  for (const field of desc.fields) {
    const rules = hasOption(field, rulesOption) ? getOption(field, rulesOption) : undefined;
    const child = field.message === undefined ? undefined : (cache.get(field.message.typeName) as Entry);
    const check = compileField(field, rules, child?.hasRules === true ? child : undefined);
    if (check !== undefined) {
      fields.push({ localName: field.localName, oneof: field.oneof?.localName, check });
    }
  }
  return generateMessageCheck(fields);
}

/**
 * Builds the loop over a message's checked fields as straight-line code. A shared
 * loop reading `message[key]` goes megamorphic across message types and keys and
 * cost more than the rules themselves; generated code gives every field its own
 * property access and call site. Only JSON-quoted names reach the source text.
 */
function generateMessageCheck(fields: readonly CompiledField[]): MessageCheck {
  const lines = ["let out, s;"];
  fields.forEach(({ localName, oneof }, i) => {
    const key = JSON.stringify(localName);
    const value = oneof === undefined ? `m[${key}]` : `((s = m[${JSON.stringify(oneof)}]).case === ${key} ? s.value : undefined)`;
    lines.push(`out = c${i}(${value}, out);`);
  });
  lines.push("return out;");
  const params = fields.map((_, i) => `c${i}`);
  const factory = new Function(...params, `return function check(m) {\n${lines.join("\n")}\n};`) as (
    ...checks: FieldCheck[]
  ) => MessageCheck;
  return factory(...fields.map((f) => f.check));
}

function compileField(field: DescField, rules: FieldRules | undefined, child: Entry | undefined): FieldCheck | undefined {
  const required = rules?.required === true;
  const typeRules = rules?.type;
  const name = field.name;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const check = compileValue(field, field.enum ?? field.scalar, rules);
      if (check === undefined) return undefined;
      // Unset explicit presence (`optional`, oneof member): only `required` applies.
      return (value, out) =>
        value === undefined ? (required ? violation(out, name, -1, "required", "is required") : out) : check(value as never, out, name, -1);
    }
    case "message": {
      if (typeRules?.case !== undefined) throw ruleError(field, `${typeRules.case} rules do not apply to a message field`);
      if (!required && child === undefined) return undefined;
      return (value, out) => {
        if (value === undefined) return required ? violation(out, name, -1, "required", "is required") : out;
        return child === undefined ? out : nested(out, child, value, name, -1);
      };
    }
    case "map": {
      if (typeRules?.case !== undefined) throw ruleError(field, `${typeRules.case} rules do not apply to a map field`);
      if (!required && child === undefined) return undefined;
      const stringKeys = field.mapKey === ScalarType.STRING;
      return (value, out) => {
        const map = value as Record<string, unknown>;
        if (required && !hasKeys(map)) return violation(out, name, -1, "required", "is required");
        if (child === undefined) return out;
        for (const key in map) {
          const found = (child.check as MessageCheck)(map[key] as Fields);
          if (found !== undefined) out = prefixed(out, found, `${name}[${stringKeys ? JSON.stringify(key) : key}].`);
        }
        return out;
      };
    }
    case "list":
      return compileList(field, rules, child);
  }
}

function compileList(
  field: DescField & { fieldKind: "list" },
  rules: FieldRules | undefined,
  child: Entry | undefined,
): FieldCheck | undefined {
  const typeRules = rules?.type;
  if (typeRules?.case !== undefined && typeRules.case !== "repeated") {
    throw ruleError(field, `${typeRules.case} rules do not apply to a repeated field (use repeated.items)`);
  }
  const repeated: RepeatedRules | undefined = typeRules?.value;
  const required = rules?.required === true;
  const ignoreEmpty = rules?.ignoreEmpty === true;
  const { minItems, maxItems } = repeated ?? {};
  if (minItems !== undefined && maxItems !== undefined && minItems > maxItems) {
    throw ruleError(field, `repeated.min_items (${minItems}) exceeds repeated.max_items (${maxItems})`);
  }
  const unique = repeated?.unique === true;
  if (unique && field.listKind === "message") throw ruleError(field, "repeated.unique does not apply to message items");
  let item: ValueCheck | undefined;
  if (repeated?.items !== undefined) {
    if (field.listKind === "message") {
      if (repeated.items.type.case !== undefined) {
        throw ruleError(field, `repeated.items ${repeated.items.type.case} rules do not apply to message items`);
      }
    } else {
      item = compileValue(field, field.enum ?? field.scalar, repeated.items, "repeated.items ");
    }
  }
  if (!required && repeated === undefined && child === undefined) return undefined;
  const name = field.name;
  const bytes = field.scalar === ScalarType.BYTES;
  return (value, out) => {
    const list = value as readonly unknown[];
    const length = list.length;
    if (length === 0) {
      if (required) return violation(out, name, -1, "required", "is required");
      if (ignoreEmpty) return out;
    }
    if (minItems !== undefined && length < minItems) {
      out = violation(out, name, -1, "repeated.min_items", `must contain at least ${minItems} ${plural(minItems, "item")}`);
    }
    if (maxItems !== undefined && length > maxItems) {
      out = violation(out, name, -1, "repeated.max_items", `must contain at most ${maxItems} ${plural(maxItems, "item")}`);
    }
    if (unique && length > 1 && hasDuplicates(list, bytes)) {
      out = violation(out, name, -1, "repeated.unique", "must not contain duplicate items");
    }
    if (item !== undefined) {
      for (let i = 0; i < length; i++) out = item(list[i] as never, out, name, i);
    }
    if (child !== undefined) {
      for (let i = 0; i < length; i++) out = nested(out, child, list[i], name, i);
    }
    return out;
  };
}

/** Compiles `required`, `ignore_empty` and the type rules of one scalar or enum value. */
function compileValue(
  field: DescField,
  type: ScalarType | DescEnum | undefined,
  rules: FieldRules | undefined,
  where = "",
): ValueCheck | undefined {
  if (rules === undefined || type === undefined) return undefined;
  const typeRules = rules.type;
  let check: ValueCheck | undefined;
  switch (typeRules.case) {
    case undefined:
      break;
    case "string":
      if (type !== ScalarType.STRING) throw ruleError(field, `${where}string rules need a string field`);
      check = compileString(field, typeRules.value, where);
      break;
    case "int32":
      if (type !== ScalarType.INT32 && type !== ScalarType.SINT32 && type !== ScalarType.SFIXED32) {
        throw ruleError(field, `${where}int32 rules need an int32, sint32 or sfixed32 field`);
      }
      check = compileInt32(field, typeRules.value, where);
      break;
    case "enum":
      if (typeof type !== "object") throw ruleError(field, `${where}enum rules need an enum field`);
      check = compileEnum(typeRules.value, type);
      break;
    case "repeated":
      throw ruleError(field, `${where}repeated rules need a repeated field`);
  }
  const required = rules.required;
  const ignoreEmpty = rules.ignoreEmpty;
  if (!required && check === undefined) return undefined;
  const isZero = zeroTest(type);
  return (value, out, name, index) => {
    if (isZero(value)) {
      if (required) return violation(out, name, index, "required", "is required");
      if (ignoreEmpty) return out;
    }
    return check === undefined ? out : check(value, out, name, index);
  };
}

function compileString(field: DescField, rules: StringRules, where: string): ValueCheck | undefined {
  const { minLen, maxLen, email, uuid } = rules;
  if (minLen !== undefined && maxLen !== undefined && minLen > maxLen) {
    throw ruleError(field, `${where}string.min_len (${minLen}) exceeds string.max_len (${maxLen})`);
  }
  let pattern: RegExp | undefined;
  if (rules.pattern !== undefined) {
    try {
      pattern = new RegExp(rules.pattern, "u");
    } catch (error) {
      throw ruleError(
        field,
        `${where}string.pattern ${JSON.stringify(rules.pattern)} is not a valid regular expression: ${(error as Error).message}`,
      );
    }
  }
  if (minLen === undefined && maxLen === undefined && pattern === undefined && !email && !uuid) return undefined;
  const minText = minLen === undefined ? "" : `must be at least ${minLen} ${plural(minLen, "character")}`;
  const maxText = maxLen === undefined ? "" : `must be at most ${maxLen} ${plural(maxLen, "character")}`;
  const patternText = `must match the pattern ${JSON.stringify(rules.pattern)}`;
  return (value: string, out, name, index) => {
    // UTF-16 length bounds the code point count from both sides (n/2 <= cp <= n),
    // so counting is needed only near the limits.
    if (minLen !== undefined && (value.length < minLen || (value.length < 2 * minLen && codePoints(value) < minLen))) {
      out = violation(out, name, index, "string.min_len", minText);
    }
    if (maxLen !== undefined && value.length > maxLen && codePoints(value) > maxLen) {
      out = violation(out, name, index, "string.max_len", maxText);
    }
    if (pattern !== undefined && !pattern.test(value)) {
      out = violation(out, name, index, "string.pattern", patternText);
    }
    if (email && !isEmail(value)) {
      out = violation(out, name, index, "string.email", "must be a valid email address");
    }
    if (uuid && !UUID.test(value)) {
      out = violation(out, name, index, "string.uuid", "must be a valid UUID");
    }
    return out;
  };
}

function compileInt32(field: DescField, rules: Int32Rules, where: string): ValueCheck | undefined {
  const { gte, lte } = rules;
  if (gte !== undefined && lte !== undefined && gte > lte) {
    throw ruleError(field, `${where}int32.gte (${gte}) exceeds int32.lte (${lte})`);
  }
  if (gte === undefined && lte === undefined) return undefined;
  return (value: number, out, name, index) => {
    if (gte !== undefined && value < gte) {
      out = violation(out, name, index, "int32.gte", `must be greater than or equal to ${gte}`);
    }
    if (lte !== undefined && value > lte) {
      out = violation(out, name, index, "int32.lte", `must be less than or equal to ${lte}`);
    }
    return out;
  };
}

function compileEnum(rules: EnumRules, type: DescEnum): ValueCheck | undefined {
  const defined = rules.definedOnly ? new Set(type.values.map((v) => v.number)) : undefined;
  const notIn = rules.notIn.length > 0 ? new Set(rules.notIn) : undefined;
  if (defined === undefined && notIn === undefined) return undefined;
  const notInText = `must not be ${rules.notIn.map((n) => type.value[n]?.name ?? String(n)).join(" or ")}`;
  return (value: number, out, name, index) => {
    if (defined !== undefined && !defined.has(value)) {
      out = violation(out, name, index, "enum.defined_only", `must be a defined ${type.name} value`);
    }
    if (notIn !== undefined && notIn.has(value)) {
      out = violation(out, name, index, "enum.not_in", notInText);
    }
    return out;
  };
}

/** Runs a child type's check; the path prefix is built only if something is wrong. */
function nested(out: Violations, child: Entry, value: unknown, name: string, index: number): Violations {
  const found = (child.check as MessageCheck)(value as Fields);
  return found === undefined ? out : prefixed(out, found, index < 0 ? `${name}.` : `${name}[${index}].`);
}

/** Prefixes a child's violation paths in place and appends them to `out`, within the bound. */
function prefixed(out: Violations, found: ViolationList, prefix: string): Violations {
  for (const v of found) v.field = prefix + v.field;
  if (out === undefined) return found;
  const room = MAX_VIOLATIONS - out.length;
  for (let i = 0; i < found.length && i < room; i++) out.push(found[i] as MutableViolation);
  const dropped = Math.max(0, found.length - room) + (found.omitted ?? 0);
  if (dropped > 0) out.omitted = (out.omitted ?? 0) + dropped;
  return out;
}

/** Records a violation of field `name` (list item `index`, or -1); past the bound only counts it, building no path. */
function violation(out: Violations, name: string, index: number, reason: string, description: string): ViolationList {
  if (out === undefined) return [{ field: path(name, index), description, reason }];
  if (out.length < MAX_VIOLATIONS) out.push({ field: path(name, index), description, reason });
  else out.omitted = (out.omitted ?? 0) + 1;
  return out;
}

function path(name: string, index: number): string {
  return index < 0 ? name : `${name}[${index}]`;
}

function zeroTest(type: ScalarType | DescEnum): (value: never) => boolean {
  if (typeof type === "object") return (value: number) => value === 0;
  switch (type) {
    case ScalarType.STRING:
      return (value: string) => value === "";
    case ScalarType.BYTES:
      return (value: Uint8Array) => value.length === 0;
    case ScalarType.BOOL:
      return (value: boolean) => !value;
    default:
      // 64-bit kinds are bigint, or string with jstype=JS_STRING: "0" == 0 too.
      return (value: number | bigint | string) => value == 0;
  }
}

function hasKeys(map: Record<string, unknown>): boolean {
  for (const _ in map) return true;
  return false;
}

function hasDuplicates(list: readonly unknown[], bytes: boolean): boolean {
  const items = bytes ? list.map((b) => (b as Uint8Array).join(",")) : list;
  // Pairwise beats allocating a Set for the short lists requests carry.
  if (items.length <= 16) {
    for (let i = 1; i < items.length; i++) {
      for (let j = 0; j < i; j++) if (items[i] === items[j]) return true;
    }
    return false;
  }
  return new Set(items).size !== items.length;
}

function codePoints(value: string): number {
  let count = value.length;
  for (let i = 0; i < value.length - 1; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// addr-spec restricted to the dot-atom forms people use: no quoted local parts,
// no IP literals, and a domain of at least two LDH labels.
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

function isEmail(value: string): boolean {
  const at = value.indexOf("@");
  return value.length <= 254 && at > 0 && at <= 64 && EMAIL.test(value);
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function ruleError(field: DescField, problem: string): Error {
  return new Error(`invalid validation rule on ${field.parent.typeName}.${field.name}: ${problem}`);
}

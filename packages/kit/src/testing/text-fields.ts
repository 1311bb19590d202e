import { ScalarType, create, type DescMessage, type Message } from "@bufbuild/protobuf";

/** A string field somewhere inside a request message. */
export interface TextField {
  /** The path the validator names it by: `display_name`, `user.email`, `post.text`, `paths[0]`. */
  readonly path: string;
  /** A message of the root type with only this field set (to `value`), and the parents it needs. */
  with(value: string): Message;
}

type Init = Record<string, unknown>;

/**
 * Every string field reachable from `schema` (singular, repeated, inside oneofs and nested
 * messages), skipping the well-known types (`google.protobuf.*`, whose strings never reach a
 * service's storage as text). For checking that a rule covers every text field a client can send,
 * including fields added later.
 */
export function textFieldsOf(schema: DescMessage): TextField[] {
  const out: TextField[] = [];
  const walk = (desc: DescMessage, prefix: string, wrap: (init: Init) => Init, seen: ReadonlySet<string>): void => {
    for (const field of desc.fields) {
      const place = (value: unknown): Init =>
        field.oneof === undefined ? { [field.localName]: value } : { [field.oneof.localName]: { case: field.localName, value } };
      if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING) {
        out.push({ path: `${prefix}${field.name}`, with: (value) => create(schema, wrap(place(value))) });
      } else if (field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.STRING) {
        out.push({ path: `${prefix}${field.name}[0]`, with: (value) => create(schema, wrap(place([value]))) });
      } else if (
        (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) &&
        field.message !== undefined
      ) {
        const child = field.message;
        if (child.typeName.startsWith("google.protobuf.") || seen.has(child.typeName)) continue;
        const list = field.fieldKind === "list";
        walk(
          child,
          `${prefix}${field.name}${list ? "[0]" : ""}.`,
          (init) => wrap(place(list ? [init] : init)),
          new Set([...seen, child.typeName]),
        );
      }
    }
  };
  walk(schema, "", (init) => init, new Set([schema.typeName]));
  return out;
}

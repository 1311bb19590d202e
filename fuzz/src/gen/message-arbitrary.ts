import fc from "fast-check";
import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { hostileEnum, hostileInt32, hostileInt64, hostileList, hostileString } from "./hostile-values.js";

/**
 * Arbitrary for a message's field values, by field: `<type name>.<field name>`
 * first, then `*.<field name>`. A hint gives the whole field's value (the
 * array, for a repeated field) and may contain {@link Ref}s.
 */
export type FieldHints = ReadonlyMap<string, fc.Arbitrary<unknown>>;

/** A message as a protobuf-es init object (localName keys, oneofs as {case, value}); may hold Refs until resolved. */
export type MessageTree = Readonly<Record<string, unknown>>;

const MAX_DEPTH = 3;

/**
 * Valid-shaped values for `schema`, built from its protobuf-es descriptor:
 * every field of every kind, each present or not, with hostile values (or the
 * hint for that field). Oneofs pick one member or none.
 */
export function messageArbitrary(schema: DescMessage, hints: FieldHints, depth = 0): fc.Arbitrary<MessageTree> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      const choices = member.fields.map((field) =>
        fieldArbitrary(schema, field, hints, depth).map((value) => ({ case: field.localName, value })),
      );
      parts[member.localName] = fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, ...choices.map((arbitrary) => ({ arbitrary, weight: 3 })));
    } else {
      parts[member.localName] = fc.oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: fieldArbitrary(schema, member, hints, depth), weight: 6 });
    }
  }
  return fc.record(parts).map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)));
}

function fieldArbitrary(schema: DescMessage, field: DescField, hints: FieldHints, depth: number): fc.Arbitrary<unknown> {
  const hint = hints.get(`${schema.typeName}.${field.name}`) ?? hints.get(`*.${field.name}`);
  if (hint !== undefined) return hint;
  switch (field.fieldKind) {
    case "scalar":
      return scalarArbitrary(field.scalar);
    case "enum":
      return enumArbitrary(field.enum);
    case "message":
      return depth >= MAX_DEPTH ? fc.constant({}) : messageArbitrary(field.message, hints, depth + 1);
    case "list": {
      const item =
        field.listKind === "scalar"
          ? scalarArbitrary(field.scalar)
          : field.listKind === "enum"
            ? enumArbitrary(field.enum)
            : depth >= MAX_DEPTH
              ? fc.constant({})
              : messageArbitrary(field.message, hints, depth + 1);
      return hostileList<unknown>(item);
    }
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalarArbitrary(field.scalar)
          : field.mapKind === "enum"
            ? enumArbitrary(field.enum)
            : depth >= MAX_DEPTH
              ? fc.constant({})
              : messageArbitrary(field.message, hints, depth + 1);
      return fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 4 });
    }
  }
}

function enumArbitrary(desc: DescEnum): fc.Arbitrary<number> {
  return hostileEnum(desc.values.map((value) => value.number));
}

function scalarArbitrary(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return hostileString();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return hostileInt32();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.constantFrom(0, 1, 4_294_967_295), fc.nat({ max: 4_294_967_295 }));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return hostileInt64();
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return hostileInt64().map((value) => BigInt.asUintN(64, value));
  }
}

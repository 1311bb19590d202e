import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import {
  AddressSchema,
  BadEnumOnStringSchema,
  BadInt32OnInt64Schema,
  BadMinAboveMaxSchema,
  BadNestedSchema,
  BadPatternSchema,
  BadRepeatedOnSingularSchema,
  BadStringOnIntSchema,
  BadStringOnListSchema,
  BadUniqueOnMessagesSchema,
  Color,
  CreateAccountRequestSchema,
  EnumRulesCaseSchema,
  ItemSchema,
  NumberRulesCaseSchema,
  OneofRulesCaseSchema,
  PlainChildSchema,
  PlainSchema,
  PresenceRulesCaseSchema,
  RepeatedRulesCaseSchema,
  StringRulesCaseSchema,
  TreeNodeSchema,
} from "../gen-test/trellis/kittest/v1/validation_test_pb.js";
import type { TreeNode } from "../gen-test/trellis/kittest/v1/validation_test_pb.js";
import { compileValidator, createValidatorCache, MAX_VIOLATIONS } from "./index.js";
import type { FieldViolation } from "./index.js";

/** Violations as "field reason" strings, for compact assertions. */
function brief(violations: readonly FieldViolation[]): string[] {
  return violations.map((v) => `${v.field} ${v.reason}`);
}

const UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";

function validAccount() {
  return create(CreateAccountRequestSchema, {
    email: "ada@example.com",
    displayName: "Ada",
    colors: [Color.RED, Color.BLUE],
    address: { city: "London", postalCode: "12345" },
    items: [{ name: "pen" }],
  });
}

describe("compileValidator", () => {
  it("returns one shared frozen empty array for a valid message", () => {
    const validate = compileValidator(CreateAccountRequestSchema);
    const first = validate(validAccount());
    assert.deepEqual(first, []);
    assert.ok(Object.isFrozen(first));
    assert.equal(validate(validAccount()), first);
  });

  it("yields no violations for a type without rules, recursion included", () => {
    const validate = compileValidator(PlainSchema);
    const plain = create(PlainSchema, {
      child: { back: { name: "", child: {} } },
      children: { a: { value: "" } },
    });
    assert.deepEqual(validate(plain), []);
    assert.deepEqual(validate(create(PlainSchema)), []);
  });

  it("reports a description with every violation", () => {
    const [v] = compileValidator(ItemSchema)(create(ItemSchema, { name: "far too long" }));
    assert.deepEqual(v, { field: "name", reason: "string.max_len", description: "must be at most 10 characters" });
  });

  describe("required", () => {
    const validate = compileValidator(PresenceRulesCaseSchema);

    it("rejects every zero value", () => {
      assert.deepEqual(brief(validate(create(PresenceRulesCaseSchema))), [
        "text required",
        "data required",
        "number required",
        "flag required",
        "color required",
        "address required",
        "tags required",
        "labels required",
        "big required",
      ]);
    });

    it("accepts set values, an empty set message included", () => {
      const message = create(PresenceRulesCaseSchema, {
        text: "x",
        data: new Uint8Array([0]),
        number: -1,
        flag: true,
        color: Color.GREEN,
        address: { city: "Paris" },
        tags: [""],
        labels: { k: "" },
        big: 1n,
      });
      assert.deepEqual(validate(message), []);
      message.address = create(AddressSchema);
      // The empty address is set; its own required city is what fails.
      assert.deepEqual(brief(validate(message)), ["address.city required"]);
    });

    it("reports only required for an empty required field", () => {
      const message = validAccount();
      message.email = "";
      assert.deepEqual(brief(compileValidator(CreateAccountRequestSchema)(message)), ["email required"]);
    });
  });

  describe("string rules", () => {
    const validate = compileValidator(StringRulesCaseSchema);
    const base = { bounded: "abc", pattern: "a-b", email: "a@b.co", uuid: UUID };
    const check = (patch: MessageInitShape<typeof StringRulesCaseSchema>) => validate(create(StringRulesCaseSchema, { ...base, ...patch }));

    it("accepts valid values", () => {
      assert.deepEqual(check({}), []);
    });

    it("checks min_len and max_len", () => {
      assert.deepEqual(brief(check({ bounded: "a" })), ["bounded string.min_len"]);
      assert.deepEqual(brief(check({ bounded: "abcdef" })), ["bounded string.max_len"]);
      assert.equal(check({ bounded: "a" })[0]?.description, "must be at least 2 characters");
    });

    it("counts Unicode code points, not UTF-16 units", () => {
      // Five astral characters: ten UTF-16 units, five code points.
      assert.deepEqual(check({ bounded: "😀😀😀😀😀" }), []);
      assert.deepEqual(brief(check({ bounded: "😀😀😀😀😀😀" })), ["bounded string.max_len"]);
      // One astral character is two units but one code point: too short.
      assert.deepEqual(brief(check({ bounded: "😀" })), ["bounded string.min_len"]);
      assert.deepEqual(check({ bounded: "é😀" }), []);
    });

    it("checks pattern, compiled with the u flag", () => {
      assert.deepEqual(brief(check({ pattern: "A-b" })), ["pattern string.pattern"]);
      assert.deepEqual(brief(check({ pattern: "" })), ["pattern string.pattern"]);
      assert.deepEqual(check({ unicodePattern: "Ünïcödé" }), []);
      assert.deepEqual(brief(check({ unicodePattern: "abc1" })), ["unicode_pattern string.pattern"]);
    });

    it("checks email", () => {
      for (const good of ["a@b.co", "first.last+tag@mail.example.org", "x_y@sub-domain.example.io"]) {
        assert.deepEqual(check({ email: good }), [], good);
      }
      const bad = [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@localhost",
        "a b@example.com",
        "a@exa mple.com",
        ".a@example.com",
        "a..b@example.com",
        "a@-example.com",
        "a@example..com",
        "a@b@example.com",
        `${"a".repeat(65)}@example.com`,
        `a@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.${"e".repeat(63)}.com`,
      ];
      for (const value of bad) {
        assert.deepEqual(brief(check({ email: value })), ["email string.email"], value);
      }
    });

    it("checks uuid in canonical form", () => {
      assert.deepEqual(check({ uuid: UUID.toUpperCase() }), []);
      for (const value of ["", UUID.replaceAll("-", ""), `{${UUID}}`, UUID.replace("a", "g"), `${UUID}0`]) {
        assert.deepEqual(brief(check({ uuid: value })), ["uuid string.uuid"], value);
      }
    });

    it("skips the type rules of an empty value with ignore_empty", () => {
      assert.deepEqual(check({ optionalEmail: "" }), []);
      assert.deepEqual(brief(check({ optionalEmail: "nope" })), ["optional_email string.email"]);
    });
  });

  describe("int32 rules", () => {
    const validate = compileValidator(NumberRulesCaseSchema);
    const check = (patch: MessageInitShape<typeof NumberRulesCaseSchema>) =>
      validate(create(NumberRulesCaseSchema, { bounded: 1, negative: -1, ...patch }));

    it("checks gte and lte", () => {
      assert.deepEqual(check({}), []);
      assert.deepEqual(check({ bounded: 10 }), []);
      assert.deepEqual(brief(check({ bounded: 0 })), ["bounded int32.gte"]);
      assert.deepEqual(brief(check({ bounded: 11 })), ["bounded int32.lte"]);
      assert.deepEqual(brief(check({ negative: 0 })), ["negative int32.lte"]);
      assert.equal(check({ bounded: 11 })[0]?.description, "must be less than or equal to 10");
    });

    it("skips zero with ignore_empty", () => {
      assert.deepEqual(check({ optionalMin: 0 }), []);
      assert.deepEqual(brief(check({ optionalMin: 4 })), ["optional_min int32.gte"]);
    });

    it("checks an optional field only when it is set", () => {
      assert.deepEqual(check({ maybe: undefined }), []);
      assert.deepEqual(brief(check({ maybe: 0 })), ["maybe int32.gte"]);
    });
  });

  describe("enum rules", () => {
    const validate = compileValidator(EnumRulesCaseSchema);

    it("checks defined_only and not_in", () => {
      assert.deepEqual(validate(create(EnumRulesCaseSchema, { color: Color.RED })), []);
      assert.deepEqual(brief(validate(create(EnumRulesCaseSchema, { color: 7 as Color, anyDefined: 9 as Color }))), [
        "color enum.defined_only",
        "any_defined enum.defined_only",
      ]);
      const [notIn] = validate(create(EnumRulesCaseSchema, { color: Color.UNSPECIFIED }));
      assert.deepEqual(notIn, { field: "color", reason: "enum.not_in", description: "must not be COLOR_UNSPECIFIED" });
    });
  });

  describe("repeated rules", () => {
    const validate = compileValidator(RepeatedRulesCaseSchema);
    const check = (patch: MessageInitShape<typeof RepeatedRulesCaseSchema>) =>
      validate(create(RepeatedRulesCaseSchema, { tags: ["a"], ...patch }));

    it("checks min_items, max_items and unique", () => {
      assert.deepEqual(check({}), []);
      assert.deepEqual(brief(check({ tags: [] })), ["tags repeated.min_items"]);
      assert.deepEqual(brief(check({ tags: ["a", "b", "c", "d"] })), ["tags repeated.max_items"]);
      assert.deepEqual(brief(check({ tags: ["a", "b", "a"] })), ["tags repeated.unique"]);
    });

    it("checks unique on long lists too", () => {
      const scores = Array.from({ length: 40 }, (_, i) => i);
      assert.deepEqual(check({ scores }), []);
      assert.deepEqual(brief(check({ scores: [...scores, 39] })), ["scores repeated.unique"]);
    });

    it("applies items rules to each element, with its index in the path", () => {
      assert.deepEqual(brief(check({ tags: ["ok", "", "long"] })), ["tags[1] string.min_len", "tags[2] string.max_len"]);
      assert.deepEqual(brief(check({ scores: [5, -1, 101] })), ["scores[1] int32.gte", "scores[2] int32.lte"]);
      assert.deepEqual(brief(check({ ids: [UUID, "", "x"] })), ["ids[1] required", "ids[2] string.uuid"]);
    });

    it("skips the list rules of an empty list with ignore_empty", () => {
      assert.deepEqual(check({ scores: [] }), []);
      assert.deepEqual(brief(check({ scores: [1] })), ["scores repeated.min_items"]);
    });

    it("validates message items and map values with their path", () => {
      const message = create(RepeatedRulesCaseSchema, {
        tags: ["a"],
        items: [{ name: "ok" }, { name: "" }, { name: "much too long" }],
        itemsByKey: { "a.b": { name: "" } },
      });
      assert.deepEqual(brief(validate(message)), [
        "items repeated.max_items",
        "items[1].name required",
        "items[2].name string.max_len",
        'items_by_key["a.b"].name required',
      ]);
    });
  });

  describe("nesting", () => {
    const validate = compileValidator(CreateAccountRequestSchema);

    it("prefixes nested violations with the parent path", () => {
      const message = validAccount();
      message.address = create(AddressSchema, { city: "", postalCode: "1234" });
      message.colors = [Color.RED, Color.RED, Color.UNSPECIFIED, 9 as Color];
      assert.deepEqual(brief(validate(message)), [
        "colors repeated.max_items",
        "colors repeated.unique",
        "colors[2] enum.not_in",
        "colors[3] enum.defined_only",
        "address.city required",
        "address.postal_code string.pattern",
      ]);
    });

    it("reports a missing required message", () => {
      const message = validAccount();
      message.address = undefined;
      assert.deepEqual(brief(validate(message)), ["address required"]);
    });

    it("validates the selected oneof member only", () => {
      const validateOneof = compileValidator(OneofRulesCaseSchema);
      assert.deepEqual(validateOneof(create(OneofRulesCaseSchema)), []);
      const email = create(OneofRulesCaseSchema, { choice: { case: "email", value: "x" } });
      assert.deepEqual(brief(validateOneof(email)), ["email string.email"]);
      const item = create(OneofRulesCaseSchema, { choice: { case: "item", value: { name: "" } } });
      assert.deepEqual(brief(validateOneof(item)), ["item.name required"]);
    });

    it("handles recursive message types", () => {
      const validateTree = compileValidator(TreeNodeSchema);
      const tree: TreeNode = create(TreeNodeSchema, {
        name: "root",
        children: [{ name: "a" }, { name: "b", children: [{ name: "" }], next: { name: "too long name" } }],
      });
      assert.deepEqual(brief(validateTree(tree)), ["children[1].children[0].name required", "children[1].next.name string.max_len"]);
      // Deep recursion only costs depth, not compilation.
      let deep = create(TreeNodeSchema, { name: "leaf" });
      for (let i = 0; i < 100; i++) deep = create(TreeNodeSchema, { name: "n", next: deep });
      assert.deepEqual(validateTree(deep), []);
    });
  });

  describe("cache", () => {
    it("compiles each type once and shares it across roots", () => {
      const cache = createValidatorCache();
      const account = compileValidator(CreateAccountRequestSchema, cache);
      assert.ok(cache.has(AddressSchema.typeName));
      assert.ok(cache.has(ItemSchema.typeName));
      assert.equal(compileValidator(CreateAccountRequestSchema, cache), account);
      assert.equal(compileValidator(AddressSchema, cache), cache.get(AddressSchema.typeName)?.validator);
      compileValidator(PlainSchema, cache);
      assert.ok(cache.has(PlainChildSchema.typeName));
    });

    it("keeps nothing from a failed compilation", () => {
      const cache = createValidatorCache();
      assert.throws(() => compileValidator(BadNestedSchema, cache));
      assert.equal(cache.size, 0);
    });
  });

  describe("a bound on violations", () => {
    it("collects at most MAX_VIOLATIONS and counts the rest", () => {
      // 300,000 invalid list items: every one is checked, MAX_VIOLATIONS are kept.
      const message = create(RepeatedRulesCaseSchema, {
        tags: ["a"],
        scores: [0, 1],
        ids: Array.from({ length: 300_000 }, () => "not-a-uuid"),
      });
      const found = compileValidator(RepeatedRulesCaseSchema)(message);
      assert.equal(found.length, MAX_VIOLATIONS);
      assert.equal(found.omitted, 300_000 - MAX_VIOLATIONS);
      assert.deepEqual(brief(found.slice(0, 2)), ["ids[0] string.uuid", "ids[1] string.uuid"]);
    });

    it("counts the violations of nested messages past the bound too", () => {
      const items = Array.from({ length: 150 }, () => ({ name: "" }));
      const found = compileValidator(RepeatedRulesCaseSchema)(create(RepeatedRulesCaseSchema, { tags: ["a"], scores: [0, 1], items }));
      // items: max_items 2 (one violation) + 150 required names.
      assert.equal(found.length + (found.omitted ?? 0), 151);
      assert.equal(found.length, MAX_VIOLATIONS);
    });
  });

  describe("invalid rule declarations throw at compile time", () => {
    const cases: [DescMessage, RegExp][] = [
      [BadStringOnIntSchema, /BadStringOnInt\.value: string rules need a string field/],
      [BadPatternSchema, /BadPattern\.value: string\.pattern "\(unclosed" is not a valid regular expression/],
      [BadInt32OnInt64Schema, /BadInt32OnInt64\.value: int32 rules need an int32/],
      [BadEnumOnStringSchema, /BadEnumOnString\.value: enum rules need an enum field/],
      [BadRepeatedOnSingularSchema, /BadRepeatedOnSingular\.value: repeated rules need a repeated field/],
      [BadStringOnListSchema, /BadStringOnList\.values: string rules do not apply to a repeated field/],
      [BadUniqueOnMessagesSchema, /BadUniqueOnMessages\.items: repeated\.unique does not apply to message items/],
      [BadMinAboveMaxSchema, /BadMinAboveMax\.value: string\.min_len \(5\) exceeds string\.max_len \(2\)/],
      [BadNestedSchema, /BadInner\.values: repeated\.items int32 rules need an int32/],
    ];
    for (const [schema, message] of cases) {
      it(schema.name, () => {
        assert.throws(() => compileValidator(schema), { message });
      });
    }
  });
});

// Micro-benchmark, not a test: `node packages/kit/dist/validation/compile-validator.bench.js`.
// Prints ns/op for validating a valid CreateUserRequest-like message (strings,
// an enum list, a nested message and a repeated nested message), and for a type
// without rules as the floor.
import { create } from "@bufbuild/protobuf";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { Color, CreateAccountRequestSchema, PlainSchema } from "../gen-test/trellis/kittest/v1/validation_test_pb.js";
import { compileValidator, createValidatorCache } from "./index.js";

const ITERATIONS = 1e6;

function bench(label: string, schema: DescMessage, message: Message): void {
  const validate = compileValidator(schema, createValidatorCache());
  let sink = 0;
  for (let i = 0; i < ITERATIONS / 10; i++) sink += validate(message).length; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) sink += validate(message).length;
  const elapsed = Number(process.hrtime.bigint() - start);
  if (sink !== 0) throw new Error(`${label}: expected a valid message`);
  console.log(`${label}: ${(elapsed / ITERATIONS).toFixed(1)} ns/op (${ITERATIONS} ops)`);
}

bench(
  "CreateAccountRequest (valid)",
  CreateAccountRequestSchema,
  create(CreateAccountRequestSchema, {
    email: "ada.lovelace@example.com",
    displayName: "Ada Lovelace",
    colors: [Color.RED, Color.BLUE],
    address: { city: "London", postalCode: "12345" },
    items: [{ name: "pen" }, { name: "ink" }],
  }),
);
bench("Plain (no rules)", PlainSchema, create(PlainSchema, { name: "x", child: {} }));

import type { DescMessage, Message } from "@bufbuild/protobuf";
import { Code, RpcError } from "../errors/rpc-error.js";
import { badRequest } from "../errors/error-details.js";
import { compileValidator, createValidatorCache, type Validator } from "../validation/index.js";
import type { Interceptor } from "./interceptor.js";

/**
 * Enforces the `trellis.validate.v1.field` rules declared in the .proto on every
 * request message before the handler sees it: a violation ends the call with
 * INVALID_ARGUMENT and a google.rpc.BadRequest listing each bad field. Rules are
 * compiled once per message type.
 */
export function createValidationInterceptor(): Interceptor {
  const cache = createValidatorCache();
  const validators = new Map<string, Validator>();
  const validatorFor = (schema: DescMessage): Validator => {
    let validator = validators.get(schema.typeName);
    if (validator === undefined) {
      validator = compileValidator(schema, cache);
      validators.set(schema.typeName, validator);
    }
    return validator;
  };
  return (next) => (request) => {
    const validate = validatorFor(request.method.input);
    if (!request.stream) {
      check(validate, request.message, request.method.input);
      return next(request);
    }
    return next({ ...request, messages: checkEach(validate, request.messages, request.method.input) });
  };
}

/** Throws INVALID_ARGUMENT with BadRequest details when the message breaks its rules. */
export function assertValid(validate: Validator, message: Message, schema: DescMessage): void {
  check(validate, message, schema);
}

function check(validate: Validator, message: Message, schema: DescMessage): void {
  const violations = validate(message);
  if (violations.length === 0) return;
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  throw new RpcError(Code.INVALID_ARGUMENT, `invalid ${schema.name}: ${summary}`, {
    details: [badRequest(violations)],
  });
}

async function* checkEach(
  validate: Validator,
  messages: AsyncIterable<Message>,
  schema: DescMessage,
): AsyncIterable<Message> {
  for await (const message of messages) {
    check(validate, message, schema);
    yield message;
  }
}

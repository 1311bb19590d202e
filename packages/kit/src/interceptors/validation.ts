import type { DescMessage, Message } from "@bufbuild/protobuf";
import { invalidArgument } from "../errors/error-details.js";
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

function check(validate: Validator, message: Message, schema: DescMessage): void {
  const violations = validate(message);
  if (violations.length > 0) throw invalidArgument(schema.name, violations, violations.omitted);
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

import type { DescMessage, Message } from "@bufbuild/protobuf";
import { invalidArgument } from "../errors/error-details.js";
import { compileValidator, createValidatorCache, type Validator } from "../validation/index.js";
import type { Interceptor, MessageData } from "../call/interceptor.js";

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
    // Requests a server received: a client's own requests are the caller's business.
    if (request.context.side !== "server") return next(request);
    const validate = validatorFor(request.method.input);
    if (!request.stream) {
      try {
        check(validate, request.message, request.method.input);
      } catch (error) {
        return Promise.reject(error);
      }
      return next(request);
    }
    return next({ ...request, messages: checkEach(validate, request.messages, request.method.input) });
  };
}

/** Server requests are decoded by the kit's codec: real messages of the method's input type. */
function check(validate: Validator, message: MessageData, schema: DescMessage): void {
  const violations = validate(message as Message);
  if (violations.length > 0) throw invalidArgument(schema.name, violations, violations.omitted);
}

async function* checkEach(validate: Validator, messages: AsyncIterable<MessageData>, schema: DescMessage): AsyncIterable<MessageData> {
  for await (const message of messages) {
    check(validate, message, schema);
    yield message;
  }
}

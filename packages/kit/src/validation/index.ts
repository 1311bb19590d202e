/**
 * Request validation: `trellis.validate.v1.field` rules compiled once per message
 * type into closures that run on every request.
 */
export { compileValidator, createValidatorCache } from "./compile-validator.js";
export type { FieldViolation, Validator, ValidatorCache, ValidatorCacheEntry } from "./compile-validator.js";

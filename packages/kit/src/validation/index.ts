/**
 * Request validation: `trellis.validate.v1.field` rules compiled once per message
 * type into closures that run on every request.
 */
export { compileValidator, createValidatorCache, MAX_VIOLATIONS } from "./compile-validator.js";
export type { FieldViolation, ValidationResult, Validator, ValidatorCache, ValidatorCacheEntry } from "./compile-validator.js";

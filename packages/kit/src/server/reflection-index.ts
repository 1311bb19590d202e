import type { DescFile } from "@bufbuild/protobuf";
import type { DescriptorProto, EnumDescriptorProto, FieldDescriptorProto } from "@bufbuild/protobuf/wkt";
import { fileDescriptorBytes } from "./file-descriptor-bytes.js";

/** One file reflection can serve: its name, its compiler bytes and its imports in order. */
export interface ServedFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly dependencies: readonly ServedFile[];
}

/** What server reflection looks up, built once when the server starts listening. */
export interface ReflectionIndex {
  /** The services `list_services` reports, sorted by name (as grpc-go does). */
  readonly services: readonly string[];
  /** The file called `name` (`trellis/user/v1/user.proto`). */
  file(name: string): ServedFile | undefined;
  /**
   * The file declaring a fully-qualified symbol, without a leading dot: a message,
   * enum, service, extension, field, oneof or method (`Message.field`,
   * `Service.Method`), or an enum value, which protobuf scopes beside its enum
   * (`trellis.user.v1.ROLE_ADMIN`).
   */
  fileContainingSymbol(symbol: string): ServedFile | undefined;
  /** The file declaring extension `number` of `extendee` (`google.protobuf.FieldOptions`). */
  fileContainingExtension(extendee: string, number: number): ServedFile | undefined;
  /**
   * The extension numbers of `extendee`, ascending; undefined when no served file
   * declares a symbol of that name.
   */
  extensionNumbers(extendee: string): readonly number[] | undefined;
}

/**
 * Indexes `files` and everything they import, for the reflection service.
 * Names are looked up as the reflection spec writes them, fully qualified
 * without a leading dot; the descriptors' own type references carry one
 * (`.google.protobuf.FieldOptions`), so it is removed when indexing.
 */
export function createReflectionIndex(files: Iterable<DescFile>, services: Iterable<string>): ReflectionIndex {
  const byName = new Map<string, ServedFile>();
  const symbols = new Map<string, ServedFile>();
  const extensions = new Map<string, Map<number, ServedFile>>();

  const visit = (file: DescFile): ServedFile => {
    const known = byName.get(file.proto.name);
    if (known) return known;
    const served: ServedFile = {
      name: file.proto.name,
      bytes: fileDescriptorBytes(file),
      dependencies: file.dependencies.map(visit),
    };
    byName.set(served.name, served);
    indexDeclarations(file, {
      symbol: (name) => {
        if (!symbols.has(name)) symbols.set(name, served);
      },
      extension: (extension) => {
        const extendee = extension.extendee.replace(/^\./, "");
        const numbers = extensions.get(extendee) ?? new Map<number, ServedFile>();
        extensions.set(extendee, numbers);
        if (!numbers.has(extension.number)) numbers.set(extension.number, served);
      },
    });
    return served;
  };
  for (const file of files) visit(file);

  return {
    services: [...new Set(services)].sort(),
    file: (name) => byName.get(name),
    fileContainingSymbol: (symbol) => symbols.get(symbol),
    fileContainingExtension: (extendee, number) => extensions.get(extendee)?.get(number),
    extensionNumbers: (extendee) => {
      const numbers = extensions.get(extendee);
      if (numbers) return [...numbers.keys()].sort((a, b) => a - b);
      return symbols.has(extendee) ? [] : undefined;
    },
  };
}

interface DeclarationSink {
  symbol(name: string): void;
  extension(extension: FieldDescriptorProto): void;
}

/** Reports every name a file declares and every extension it defines. */
function indexDeclarations(file: DescFile, sink: DeclarationSink): void {
  const proto = file.proto;
  const scope = proto.package ? `${proto.package}.` : "";
  const extension = (field: FieldDescriptorProto, prefix: string): void => {
    sink.symbol(prefix + field.name);
    sink.extension(field);
  };
  const enumType = (type: EnumDescriptorProto, prefix: string): void => {
    sink.symbol(prefix + type.name);
    for (const value of type.value) sink.symbol(prefix + value.name);
  };
  const message = (type: DescriptorProto, prefix: string): void => {
    const name = prefix + type.name;
    sink.symbol(name);
    for (const field of type.field) sink.symbol(`${name}.${field.name}`);
    for (const oneof of type.oneofDecl) sink.symbol(`${name}.${oneof.name}`);
    for (const nested of type.nestedType) message(nested, `${name}.`);
    for (const nested of type.enumType) enumType(nested, `${name}.`);
    for (const nested of type.extension) extension(nested, `${name}.`);
  };
  for (const type of proto.messageType) message(type, scope);
  for (const type of proto.enumType) enumType(type, scope);
  for (const field of proto.extension) extension(field, scope);
  for (const service of proto.service) {
    sink.symbol(scope + service.name);
    for (const method of service.method) sink.symbol(`${scope}${service.name}.${method.name}`);
  }
}

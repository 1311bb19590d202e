import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Registrar, ServiceInstance } from "./registry.js";

/** Options of {@link registerWhileServing}. */
export interface ServiceRegistrationOptions {
  readonly registry: Registrar;
  readonly service: string;
  /** The address other services dial (a pod IP in Kubernetes). */
  readonly host: string;
  /** The port the server really bound (also when it was asked for port 0). */
  readonly port: number;
  /** @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
  /** @default `<service>-<hostname>-<port>-<random>` */
  readonly id?: string;
}

/**
 * Registers a server that is SERVING, and deregisters it as soon as its shutdown
 * starts — after health turns NOT_SERVING and before the listener closes — so
 * clients stop picking it before it stops accepting calls.
 */
export async function registerWhileServing(
  server: { onShutdown(hook: () => Promise<void> | void): void },
  options: ServiceRegistrationOptions,
): Promise<ServiceInstance> {
  const instance: ServiceInstance = {
    id: options.id ?? `${options.service}-${hostname()}-${options.port}-${randomBytes(3).toString("hex")}`,
    service: options.service,
    host: options.host,
    port: options.port,
    metadata: options.metadata ?? {},
  };
  await options.registry.register(instance);
  server.onShutdown(() => options.registry.deregister(instance));
  return instance;
}

/**
 * Service discovery: the Registry contracts, the static, DNS, etcd and Consul
 * registries, the grpc-js resolver bridge (`static:///`, `trellis-dns:///`,
 * `etcd:///`, `consul:///` targets) and registration while serving.
 */
export type { ServiceInstance, Registrar, Discovery, Registry } from "./registry.js";
export { createRegistryFromUrl, parseRegistryUrl, type RegistryUrl, type RegistryFromUrlOptions } from "./create-registry.js";
export { createStaticRegistry, parseStaticConfig, parseHostPort, formatHostPort, type HostPort } from "./static-registry.js";
export { createDnsDiscovery, parseDnsServers, type DnsDiscoveryOptions, type DnsResolver, type SrvRecord } from "./dns-discovery.js";
export { createTcpDnsResolver, type TcpDnsResolverOptions } from "./dns-tcp-resolver.js";
export { createEtcdRegistry, parseEtcdUrl, type EtcdRegistryOptions } from "./etcd-registry.js";
export { createConsulRegistry, parseConsulUrl, ConsulError, type ConsulRegistryOptions } from "./consul-registry.js";
export { registerTrellisResolvers, discoveryChannelOptions, DISCOVERY_CHANNEL_OPTION, TRELLIS_RESOLVER_SCHEMES } from "./grpc-resolver.js";
export { registerWhileServing, type ServiceRegistrationOptions } from "./service-registration.js";
export { readDiscoveryConfig, registryOptionsFrom, discoveryFor, serviceTarget, type DiscoveryConfig } from "../config/discovery-config.js";

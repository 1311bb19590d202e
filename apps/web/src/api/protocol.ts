/** The wire protocols the app can speak to the edge. */
export type Protocol = "grpc-web" | "connect";

/** Every protocol, in the order the settings menu lists them. */
export const PROTOCOLS: readonly { readonly id: Protocol; readonly label: string }[] = [
  { id: "grpc-web", label: "gRPC-Web" },
  { id: "connect", label: "Connect" },
];

const STORAGE_KEY = "trellis.protocol";

function isProtocol(value: string | null): value is Protocol {
  return value === "grpc-web" || value === "connect";
}

/**
 * The protocol to use: `?protocol=connect|grpc-web` in the address wins (handy for links and
 * tests), then the last choice made in the settings, then gRPC-Web.
 */
export function readProtocol(location: Pick<Location, "search">, storage: Pick<Storage, "getItem"> | undefined): Protocol {
  const fromUrl = new URLSearchParams(location.search).get("protocol");
  if (isProtocol(fromUrl)) return fromUrl;
  const stored = storage?.getItem(STORAGE_KEY) ?? null;
  return isProtocol(stored) ? stored : "grpc-web";
}

/** Remembers the choice for the next visit. */
export function saveProtocol(storage: Pick<Storage, "setItem"> | undefined, protocol: Protocol): void {
  try {
    storage?.setItem(STORAGE_KEY, protocol);
  } catch {
    // Storage may be disabled (private mode, quota): the choice then lasts this visit only.
  }
}

import { useEffect, useState } from "preact/hooks";

/** Where the app is: the directory, or a chat room. Kept in the address's #fragment so links and reloads work without server routes. */
export type Route = { readonly page: "people" } | { readonly page: "chat"; readonly room: string };

/** "#/chat/general" -> { page: "chat", room: "general" }; anything else is the directory. */
export function parseRoute(hash: string): Route {
  const match = /^#\/chat(?:\/([^/?#]*))?/.exec(hash);
  if (match !== null) return { page: "chat", room: decodeURIComponent(match[1] ?? "") || "general" };
  return { page: "people" };
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

import { useEffect, useMemo, useState } from "preact/hooks";
import { createClients } from "./api/clients.js";
import { PROTOCOLS, readProtocol, saveProtocol, type Protocol } from "./api/protocol.js";
import { createTrellisTransport } from "./api/transport.js";
import { ChatPage } from "./chat/chat-page.js";
import { DirectoryPage } from "./directory/directory-page.js";
import { useRoute } from "./route.js";

/** The app's frame: navigation, the page, and the wire-protocol setting. */
export function App() {
  const route = useRoute();
  const [protocol, setProtocol] = useState<Protocol>(() => readProtocol(location, globalThis.localStorage));
  const clients = useMemo(() => createClients(createTrellisTransport(protocol)), [protocol]);

  useEffect(() => {
    document.title = route.page === "chat" ? `#${route.room} · Trellis` : "People · Trellis";
  }, [route]);

  return (
    <div class="app">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/people" aria-label="Trellis home">
          <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">
            <rect x="2" y="2" width="20" height="20" rx="6" fill="currentColor" />
            <path d="M7 8h10M12 8v9M8.5 12.5h7" stroke="#fff" stroke-width="2" stroke-linecap="round" />
          </svg>
          <span>Trellis</span>
        </a>
        <nav class="nav" aria-label="Main">
          <a href="#/people" aria-current={route.page === "people" ? "page" : undefined}>
            People
          </a>
          <a
            href={route.page === "chat" ? `#/chat/${route.room}` : "#/chat/general"}
            aria-current={route.page === "chat" ? "page" : undefined}
          >
            Chat
          </a>
        </nav>
        <label class="protocol">
          <span>Protocol</span>
          <select
            value={protocol}
            onChange={(event) => {
              const next = event.currentTarget.value as Protocol;
              saveProtocol(globalThis.localStorage, next);
              setProtocol(next);
            }}
          >
            {PROTOCOLS.map((option) => (
              <option key={option.id} value={option.id}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === "chat" ? (
          <ChatPage key={`${route.room}`} clients={clients} room={route.room} />
        ) : (
          <DirectoryPage clients={clients} />
        )}
      </main>
    </div>
  );
}

import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import type { experimental } from "@grpc/grpc-js";
import type { Logger } from "../observability/logger.js";
import { identityOfCertificate, type PeerIdentity } from "./spiffe-id.js";

/** Where a process' TLS material is, and the variables that named each file (for error messages). */
export interface TlsFilePaths {
  /** This process' certificate chain (PEM, leaf first). With `keyFile`, or neither. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The CA bundle (PEM) peers are verified against. */
  readonly caFile?: string;
  /** How each file is named in errors. @default the path */
  readonly names?: { readonly cert?: string; readonly key?: string; readonly ca?: string };
}

/** One consistent load of the files. */
export interface TlsMaterial {
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly ca: Buffer | undefined;
  /** A context with all three, for a server's handshakes. */
  readonly secureContext: SecureContext;
  /** The SPIFFE identity of this process' certificate, if it has one. */
  readonly identity: PeerIdentity | undefined;
  /** The leaf's SHA-256 fingerprint, to say which certificate is in use. */
  readonly fingerprint: string | undefined;
  /** The leaf's expiry. */
  readonly notAfter: Date | undefined;
  /** 1 for the first load, then one more per reload that changed something. */
  readonly version: number;
}

/** Options of {@link loadTlsFiles}. */
export interface TlsFilesOptions extends TlsFilePaths {
  /**
   * How often the files are re-read whatever fs.watch says (it misses changes
   * on some file systems, and a Kubernetes secret volume swaps a symlink).
   * 0: never. @default 30_000
   */
  readonly checkIntervalMs?: number;
  /** Watch the files' folders for changes. @default true */
  readonly watch?: boolean;
  /** @default a silent logger's worth: nothing */
  readonly logger?: Logger;
}

/**
 * A process' certificates, kept current: re-read when their files change, a
 * new set taking effect only when it is whole and consistent (the key matches
 * the certificate, every PEM parses, Node accepts them), so a half-written
 * rotation keeps the old set instead of breaking handshakes. Servers take a
 * new context per connection and clients one per new connection: calls on
 * existing connections go on untouched. Also grpc-js' CertificateProvider,
 * so a channel's new connections get the current set.
 */
export interface TlsFiles extends experimental.CertificateProvider {
  current(): TlsMaterial;
  /** Called after each reload that changed something; returns an unsubscribe. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  /** Re-reads the files now; resolves true when something changed. */
  reload(): Promise<boolean>;
  /** Stops watching. */
  close(): void;
}

/** Loads the files (failing with one line naming what is wrong) and starts watching them. */
export async function loadTlsFiles(options: TlsFilesOptions): Promise<TlsFiles> {
  const paths = { ...options, names: { cert: options.certFile, key: options.keyFile, ca: options.caFile, ...options.names } };
  if ((paths.certFile === undefined) !== (paths.keyFile === undefined)) {
    throw new Error(`${paths.names.cert ?? "the certificate"} and ${paths.names.key ?? "the key"} must be set together`);
  }
  let material = await readMaterial(paths, 1);
  let raw = await readRaw(paths);
  const listeners = new Set<(m: TlsMaterial) => void>();
  const caListeners = new Set<experimental.CaCertificateUpdateListener>();
  const identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  let lastFailure = "";
  let closed = false;

  const publish = (): void => {
    for (const listener of caListeners) listener(material.ca === undefined ? null : { caCertificate: material.ca });
    for (const listener of identityListeners) {
      listener(material.cert === undefined || material.key === undefined ? null : { certificate: material.cert, privateKey: material.key });
    }
    for (const listener of listeners) listener(material);
  };

  // One read at a time; a change that arrives during a read triggers one more.
  let running: Promise<boolean> | undefined;
  let again = false;
  const reloadOnce = async (): Promise<boolean> => {
    const next = await readRaw(paths).catch(() => undefined);
    if (next === undefined || sameRaw(next, raw)) return false;
    try {
      const loaded = await readMaterial(paths, material.version + 1, next);
      material = loaded;
      raw = next;
      lastFailure = "";
      options.logger?.info(
        {
          "event.action": "tls-reload",
          "tls.server.hash.sha256": loaded.fingerprint,
          "tls.server.not_after": loaded.notAfter?.toISOString(),
        },
        `TLS certificates reloaded (version ${loaded.version})`,
      );
      publish();
      return true;
    } catch (error) {
      const message = (error as Error).message;
      // A rotation in progress fails the same way on every event: say it once.
      if (message !== lastFailure)
        options.logger?.warn(
          { "event.action": "tls-reload", "error.message": message },
          `TLS certificates not reloaded, keeping the current ones: ${message}`,
        );
      lastFailure = message;
      return false;
    }
  };
  const reload = async (): Promise<boolean> => {
    if (closed) return false;
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await reloadOnce()) || changed;
      } while (again && !closed);
      return changed;
    })().finally(() => (running = undefined));
    return running;
  };

  // Editors and `kubectl` write files in several steps: react to the last event of a burst.
  let debounce: NodeJS.Timeout | undefined;
  const soon = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), 50);
    debounce.unref();
  };
  const watchers: FSWatcher[] = [];
  if (options.watch ?? true) {
    const files = [paths.certFile, paths.keyFile, paths.caFile].filter((f): f is string => f !== undefined);
    for (const folder of new Set(files.map((f) => dirname(f)))) {
      const names = new Set(files.filter((f) => dirname(f) === folder).map((f) => basename(f)));
      try {
        const watcher = watch(folder, { persistent: false }, (_event, name) => {
          // A symlink swap (Kubernetes' ..data) names neither file: re-read on any event then.
          if (name === null || names.has(String(name)) || String(name).startsWith("..")) soon();
        });
        watcher.on("error", () => undefined);
        watchers.push(watcher);
      } catch {
        // Not watchable here (some network file systems): the periodic check remains.
      }
    }
  }
  const intervalMs = options.checkIntervalMs ?? 30_000;
  const timer = intervalMs > 0 ? setInterval(() => void reload(), intervalMs) : undefined;
  timer?.unref();

  return {
    current: () => material,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reload,
    close() {
      closed = true;
      clearInterval(timer);
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
    },
    addCaCertificateListener(listener) {
      caListeners.add(listener);
      process.nextTick(listener, material.ca === undefined ? null : { caCertificate: material.ca });
    },
    removeCaCertificateListener: (listener) => void caListeners.delete(listener),
    addIdentityCertificateListener(listener) {
      identityListeners.add(listener);
      process.nextTick(
        listener,
        material.cert === undefined || material.key === undefined ? null : { certificate: material.cert, privateKey: material.key },
      );
    },
    removeIdentityCertificateListener: (listener) => void identityListeners.delete(listener),
  };
}

interface RawFiles {
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly ca: Buffer | undefined;
}

type NamedPaths = TlsFilePaths & {
  readonly names: { readonly cert?: string | undefined; readonly key?: string | undefined; readonly ca?: string | undefined };
};

async function readRaw(paths: NamedPaths): Promise<RawFiles> {
  const read = async (file: string | undefined, name: string | undefined): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new Error(`cannot read ${name ?? file} (${file}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read(paths.certFile, paths.names.cert),
    read(paths.keyFile, paths.names.key),
    read(paths.caFile, paths.names.ca),
  ]);
  return { cert, key, ca };
}

function sameRaw(a: RawFiles, b: RawFiles): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined): boolean =>
    x === undefined ? y === undefined : y !== undefined && x.equals(y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}

/** The largest PEM file read: certificate chains and CA bundles are a few KiB; more is not a certificate. */
const MAX_PEM_BYTES = 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

async function readMaterial(paths: NamedPaths, version: number, given?: RawFiles): Promise<TlsMaterial> {
  const raw = given ?? (await readRaw(paths));
  const name = (which: "cert" | "key" | "ca"): string => paths.names[which] ?? which;
  for (const which of ["cert", "key", "ca"] as const) {
    const bytes = raw[which];
    if (bytes !== undefined && bytes.length > MAX_PEM_BYTES) throw new Error(`${name(which)} is ${bytes.length} bytes: not a PEM file`);
  }
  let leaf: X509Certificate | undefined;
  if (raw.cert !== undefined && raw.key !== undefined) {
    const pems = certificatesIn(raw.cert);
    if (pems.length === 0) throw new Error(`${name("cert")} holds no PEM certificate`);
    try {
      leaf = new X509Certificate(pems[0] ?? "");
    } catch (error) {
      throw new Error(`${name("cert")} is not a valid certificate: ${(error as Error).message}`);
    }
    let key;
    try {
      key = createPrivateKey(raw.key);
    } catch (error) {
      throw new Error(`${name("key")} is not a valid private key: ${(error as Error).message}`);
    }
    if (!leaf.checkPrivateKey(key)) throw new Error(`${name("key")} is not the private key of ${name("cert")}`);
  }
  if (raw.ca !== undefined) {
    const pems = certificatesIn(raw.ca);
    if (pems.length === 0) throw new Error(`${name("ca")} holds no PEM certificate`);
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new Error(`${name("ca")} holds an invalid certificate: ${(error as Error).message}`);
      }
    }
  }
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({ cert: raw.cert, key: raw.key, ca: raw.ca, minVersion: "TLSv1.2" });
  } catch (error) {
    throw new Error(`the TLS files are not usable together: ${(error as Error).message}`);
  }
  return {
    ...raw,
    secureContext,
    identity: leaf === undefined ? undefined : identityOfCertificate({ subjectaltname: leaf.subjectAltName ?? "" }),
    fingerprint: leaf === undefined ? undefined : createHash("sha256").update(leaf.raw).digest("hex"),
    notAfter: leaf === undefined ? undefined : new Date(leaf.validTo),
    version,
  };
}

function certificatesIn(pem: Buffer): string[] {
  return pem.toString("latin1").match(PEM_CERTIFICATE) ?? [];
}

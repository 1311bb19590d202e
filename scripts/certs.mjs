#!/usr/bin/env node
// `npm run certs`: a local CA and one certificate per service, for running Trellis with mTLS
// (TRELLIS_TLS_DIR=.certs npm start). Re-running it re-issues the service certificates from
// the same CA — a rotation: running services pick the new files up without a restart.
//   .certs/ca.pem            the CA certificate (every process trusts it)
//   .certs/ca.key            the CA's key (only this script reads it)
//   .certs/<name>/cert.pem   <name>'s certificate: URI SAN spiffe://<trust domain>/ns/<namespace>/sa/<name>,
//   .certs/<name>/key.pem    DNS localhost and <name>, IP 127.0.0.1 and ::1; server and client use
import { parseArgs } from "node:util";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createCertificateAuthority, issueCertificate } from "@trellis/kit/security";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: flags } = parseArgs({
  options: {
    dir: { type: "string", default: join(root, ".certs") },
    services: { type: "string" },
    days: { type: "string", default: "90" },
    "ca-days": { type: "string", default: "365" },
    "trust-domain": { type: "string", default: "trellis.local" },
    namespace: { type: "string", default: "default" },
    "new-ca": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`npm run certs -- [--dir .certs] [--services user,chat,edge,cli] [--days 90] [--ca-days 365]
                      [--trust-domain trellis.local] [--namespace default] [--new-ca]
Makes (or reuses) a CA in <dir> and issues a certificate per service; "cli" is a client identity
for grpcurl, ghz and scripts. --new-ca replaces the CA (every certificate is re-issued).
`);
  process.exit(0);
}
const days = Number(flags.days);
const caDays = Number(flags["ca-days"]);
if (!(days > 0) || !(caDays > 0)) {
  process.stderr.write("certs: --days and --ca-days must be positive numbers\n");
  process.exit(2);
}
const services = flags.services
  ?.split(",")
  .map((s) => s.trim())
  .filter(Boolean) ?? [
  ...readdirSync(join(root, "services"), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name),
  "cli",
];

/** Writes through a temporary file and a rename, so a watching service never reads half a file. */
function writeAtomic(file, text, mode) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

const dir = flags.dir;
mkdirSync(dir, { recursive: true, mode: 0o755 });
const caCert = join(dir, "ca.pem");
const caKey = join(dir, "ca.key");
let ca;
if (!flags["new-ca"] && existsSync(caCert) && existsSync(caKey)) {
  ca = { certPem: readFileSync(caCert, "utf8"), keyPem: readFileSync(caKey, "utf8") };
  process.stdout.write(`certs: reusing the CA in ${caCert}\n`);
} else {
  ca = createCertificateAuthority({ notAfter: new Date(Date.now() + caDays * 86_400_000) });
  writeAtomic(caKey, ca.keyPem, 0o600);
  writeAtomic(caCert, ca.certPem, 0o644);
  process.stdout.write(`certs: made a new CA in ${caCert} (valid ${caDays} days)\n`);
}
for (const service of services) {
  const leaf = issueCertificate(ca, {
    service,
    trustDomain: flags["trust-domain"],
    namespace: flags.namespace,
    notAfter: new Date(Date.now() + days * 86_400_000),
  });
  const folder = join(dir, service);
  mkdirSync(folder, { recursive: true, mode: 0o755 });
  // The key first: a service that reloads between the two writes sees a mismatch and keeps its old pair.
  writeAtomic(join(folder, "key.pem"), leaf.keyPem, 0o600);
  writeAtomic(join(folder, "cert.pem"), leaf.certPem, 0o644);
  process.stdout.write(
    `certs: ${folder}/cert.pem  spiffe://${flags["trust-domain"]}/ns/${flags.namespace}/sa/${service} (valid ${days} days)\n`,
  );
}
process.stdout.write(`certs: run with TRELLIS_TLS_DIR=${dir}\n`);

/**
 * The stack's front door (lib/nginx-config.ts) run by Debian's nginx on 127.0.0.1, with every path in
 * a temporary prefix instead of the container's. Used by the front-door tests and the benchmarks.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NginxConfigOptions, renderNginxConfig } from "../../lib/nginx-config";
import { RunningNginx, RunningRegistry, freePort, makeTempDir, startNginx } from "./services";

export interface LocalFrontDoor {
  url: string;
  port: number;
  statusPort: number;
  statusUrl: string;
  accessLog: string;
  attendeeDirectory: string;
  nginx: RunningNginx;
}

export interface LocalFrontDoorOptions {
  /** The registry storage the blob fast path reads. */
  storageRoot: string;
  replicas: RunningRegistry[];
  /** Where the dashboard routes go (nothing need listen there). */
  monitorPort: number;
  /** Who may read stub_status. */
  statusAllow: string[];
  /** Path polled until nginx answers, e.g. "/attendee/" or "/healthz". */
  readyPath: string;
  overrides?: Partial<NginxConfigOptions>;
  /** Names the temporary prefix, for finding its logs. */
  prefixName?: string;
}

export async function startLocalFrontDoor(options: LocalFrontDoorOptions): Promise<LocalFrontDoor> {
  const prefix = makeTempDir(options.prefixName ?? "frontdoor");
  const attendeeDirectory = path.join(prefix, "attendee");
  fs.mkdirSync(attendeeDirectory);
  const port = await freePort();
  const statusPort = await freePort();
  const config: NginxConfigOptions = {
    listenPort: port,
    listenAddress: "127.0.0.1",
    replicas: options.replicas.map((r) => r.host),
    monitor: `127.0.0.1:${options.monitorPort}`,
    storageRoot: options.storageRoot,
    attendeeDirectory,
    accessLog: path.join(prefix, "logs", "access.json"),
    errorLog: path.join(prefix, "logs", "error.log"),
    pidFile: path.join(prefix, "nginx.pid"),
    tempDirectory: prefix,
    // The tests run as root and mkdtemp folders are private to their owner.
    user: os.userInfo().username,
    status: { port: statusPort, address: "127.0.0.1", allow: options.statusAllow },
    ...options.overrides,
  };
  const nginx = await startNginx(renderNginxConfig(config), `http://127.0.0.1:${port}${options.readyPath}`, prefix);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    statusPort,
    statusUrl: `http://127.0.0.1:${statusPort}/stub_status`,
    accessLog: config.accessLog,
    attendeeDirectory,
    nginx,
  };
}

/**
 * A hand-written nginx in front of one registry, for what the generated front door never does:
 * answering 429 or 503, asking for basic auth, trickling bytes. `locations` gets the upstream URL.
 */
export async function startNginxInFront(
  locations: (upstream: string) => string,
  registry: RunningRegistry,
): Promise<{ host: string; accessLog: string; nginx: RunningNginx; stop: () => Promise<void> }> {
  const port = await freePort();
  const prefix = makeTempDir("nginx-front");
  const accessLog = path.join(prefix, "logs", "access.log");
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((name) => `  ${name}_temp_path ${prefix}/${name};`).join("\n");
  const config = `worker_processes 1;
pid ${prefix}/nginx.pid;
events { worker_connections 64; }
http {
  access_log ${accessLog};
${temp}
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
${locations(`http://127.0.0.1:${registry.port}`)}
  }
}
`;
  const nginx = await startNginx(config, `http://127.0.0.1:${port}/v2/`, prefix);
  return { host: `127.0.0.1:${port}`, accessLog, nginx, stop: nginx.stop };
}

/** `registry` behind an nginx that turns every pull away, as Docker Hub does once a network used up its pull limit. */
export function startRateLimitedRegistry(registry: RunningRegistry): ReturnType<typeof startNginxInFront> {
  return startNginxInFront(
    (upstream) => `    location ~ ^/v2/.+/(manifests|blobs)/ {
      default_type application/json;
      add_header Retry-After 3600 always;
      return 429 '{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}';
    }
    location /v2/ { proxy_pass ${upstream}; }`,
    registry,
  );
}

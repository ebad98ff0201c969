/**
 * The front door's nginx.conf. One address serves the venue: the registry API (read-only, blobs
 * straight from the storage volume with sendfile when the repository links them, everything else
 * load-balanced over the read replicas), the attendee downloads, a health endpoint and the dashboard.
 *
 * The stack uploads this text into the nginx container; the tests run the very same text with
 * Debian's nginx on 127.0.0.1, with temp-folder paths instead of the container's.
 */

export interface NginxStatusOptions {
  /** Port of the private stub_status server (8081 in the stack; never published). */
  port: number;
  /** Address it binds, e.g. "127.0.0.1" in tests; all interfaces when omitted. */
  address?: string;
  /** Addresses or CIDRs that may read it; everyone else gets 403. */
  allow: string[];
}

export interface NginxConfigOptions {
  /** Port the front door listens on (8080 inside the container, published as the venue port). */
  listenPort: number;
  /** Address to bind, e.g. "127.0.0.1" in tests; all interfaces when omitted. */
  listenAddress?: string;
  /** Read replicas as "host:port", e.g. ["venue-replica-1:5000"]. At least one. */
  replicas: string[];
  /** The dashboard service as "host:port". */
  monitor: string;
  /** The registry's storage root (filesystem driver `rootdirectory`), mounted read-only. */
  storageRoot: string;
  /** Folder with workshop-attendee.tgz, venue-lock.json and mirrors.json. */
  attendeeDirectory: string;
  /** JSON-lines access log the monitor reads. */
  accessLog: string;
  /** "stderr" (container logs) or a file path. */
  errorLog: string;
  pidFile: string;
  /** Existing writable folder; nginx creates its temp folders inside it. */
  tempDirectory: string;
  status: NginxStatusOptions;
  /**
   * Unix user for the worker processes. Omitted: no `user` directive, so nginx keeps its built-in
   * default (nobody) when started as root and the current user otherwise.
   */
  user?: string;
  /** "auto" (one per core) unless measured otherwise. */
  workerProcesses?: number | "auto";
  /** Connections per worker, clients and upstreams together. */
  workerConnections?: number;
  /** Open-file limit per worker: connections plus cached blob files. */
  workerRlimitNofile?: number;
  /** Serve linked blobs from storage with sendfile (default true). Off sends every blob through the replicas. */
  blobFastPath?: boolean;
  /**
   * Read blob files in nginx's thread pool ("threads") so a cold disk read does not stall a worker,
   * or in the worker ("off"). See docs/front-door.md for the measurement behind the default.
   */
  blobAio?: "threads" | "off";
}

/** Container paths and names agreed in docs/architecture.md. */
export const frontDoorContainer = {
  listenPort: 8080,
  statusPort: 8081,
  replicaPort: 5000,
  monitor: "venue-monitor:8080",
  storageRoot: "/var/lib/registry",
  attendeeDirectory: "/srv/venue/attendee",
  accessLog: "/var/log/venue/access.json",
} as const;

/** Private address ranges (the Docker network) and loopback: who may read stub_status. */
export const privateNetworks = ["127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/**
 * Options for the stack's front door container with `replicaCount` replicas named
 * venue-replica-1..N. Overrides win.
 */
export function frontDoorContainerOptions(
  replicaCount: number,
  overrides: Partial<NginxConfigOptions> = {},
): NginxConfigOptions {
  if (!Number.isInteger(replicaCount) || replicaCount < 1) {
    throw new Error(`The front door needs at least one replica; replicaCount was ${replicaCount}.`);
  }
  return {
    listenPort: frontDoorContainer.listenPort,
    replicas: Array.from({ length: replicaCount }, (_, i) => `venue-replica-${i + 1}:${frontDoorContainer.replicaPort}`),
    monitor: frontDoorContainer.monitor,
    storageRoot: frontDoorContainer.storageRoot,
    attendeeDirectory: frontDoorContainer.attendeeDirectory,
    accessLog: frontDoorContainer.accessLog,
    errorLog: "stderr",
    pidFile: "/tmp/nginx.pid",
    tempDirectory: "/tmp",
    status: { port: frontDoorContainer.statusPort, allow: privateNetworks },
    ...overrides,
  };
}

// 700 laptops x 3 parallel layers is ~2,100 client connections, each proxied request holds one more
// to a replica, and one worker may get most of them: size each worker for all of it, twice over.
const defaultWorkerConnections = 8192;
const defaultWorkerRlimitNofile = 32768;

/** Distribution's repository name grammar (path components of lowercase alphanumerics and separators). */
const repositoryPattern = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*";

const apiVersionHeader = "add_header Docker-Distribution-Api-Version registry/2.0 always;";

const readOnlyMessage =
  "The venue registry is read-only: it serves the workshop's images for pulling. " +
  "Push your own images to Docker Hub or another registry instead; " +
  "the facilitator adds images to the venue on the laptop with: npm run venue -- mirror";

const replicasDownMessage =
  "No venue registry replica is answering. Try again in a minute; " +
  "the facilitator should check the replicas with: docker ps --filter name=venue-replica";

const dashboardDownMessage =
  "The venue dashboard is not running. Images can still be pulled; " +
  "the facilitator should check it with: docker ps --filter name=venue-monitor";

export function renderNginxConfig(options: NginxConfigOptions): string {
  validate(options);
  const storage = options.storageRoot.replace(/\/+$/, "");
  const registryRoot = `${storage}/docker/registry/v2`;
  const attendee = `${options.attendeeDirectory.replace(/\/+$/, "")}/`;
  const temp = options.tempDirectory.replace(/\/+$/, "");
  const listen = options.listenAddress ? `${options.listenAddress}:${options.listenPort}` : String(options.listenPort);
  const statusListen = options.status.address ? `${options.status.address}:${options.status.port}` : String(options.status.port);
  const fastPath = options.blobFastPath ?? true;
  const aio = options.blobAio ?? "threads";
  const workerConnections = options.workerConnections ?? defaultWorkerConnections;
  const rlimit = options.workerRlimitNofile ?? defaultWorkerRlimitNofile;
  const readOnlyCheck = "if ($request_method !~ ^(?:GET|HEAD)$) { return 405; }";

  const lines: string[] = [
    "# Generated by venue-registry lib/nginx-config.ts. Edit the options, not this file.",
    ...(options.user ? [`user ${q(options.user)};`] : []),
    `worker_processes ${options.workerProcesses ?? "auto"};`,
    `worker_rlimit_nofile ${rlimit};`,
    `pid ${q(options.pidFile)};`,
    `error_log ${q(options.errorLog)} warn;`,
    "",
    "events {",
    `    worker_connections ${workerConnections};`,
    "    multi_accept on;",
    "}",
    "",
    "http {",
    "    server_tokens off;",
    "    default_type application/octet-stream;",
    "    charset_types application/json;",
    "",
    `    client_body_temp_path ${q(`${temp}/nginx-client-body`)};`,
    `    proxy_temp_path ${q(`${temp}/nginx-proxy`)};`,
    `    fastcgi_temp_path ${q(`${temp}/nginx-fastcgi`)};`,
    `    uwsgi_temp_path ${q(`${temp}/nginx-uwsgi`)};`,
    `    scgi_temp_path ${q(`${temp}/nginx-scgi`)};`,
    "",
    "    sendfile on;",
    "    tcp_nopush on;",
    "    tcp_nodelay on;",
    // One sendfile call per connection per turn, so a 1 GiB layer cannot starve the other laptops.
    "    sendfile_max_chunk 2m;",
    "    keepalive_timeout 75s;",
    // dockerd reuses one connection for many blobs and manifests.
    "    keepalive_requests 10000;",
    "    reset_timedout_connection on;",
    "    send_timeout 120s;",
    // Writes are refused before any body is read; this only bounds the dashboard's API.
    "    client_max_body_size 1m;",
    "",
    ...accessLogLines(options.accessLog),
    "",
    // nginx announces Accept-Ranges on full responses only; the registry also does on 206 answers.
    "    map $http_range $venue_partial_accept_ranges {",
    '        "" "";',
    "        default bytes;",
    "    }",
    "",
    "    upstream venue_replicas {",
    // Plain round robin: blob bytes come from the shared volume, so any replica is as good as another.
    ...options.replicas.map((replica) => `        server ${replica} max_fails=1 fail_timeout=5s;`),
    "        keepalive 64;",
    "        keepalive_requests 10000;",
    "        keepalive_timeout 60s;",
    "    }",
    "",
    "    upstream venue_monitor {",
    `        server ${options.monitor};`,
    "        keepalive 16;",
    "    }",
    "",
    "    server {",
    `        listen ${listen} backlog=4096 reuseport;`,
    "        server_name _;",
    "",
    ...replicaProxySettings("        ", options.replicas.length),
    "",
    // Versioned API base without the slash: the registry answers it, so hand it over as is.
    "        location = /v2 {",
    `            ${readOnlyCheck}`,
    "            error_page 405 = @venue_read_only;",
    "            error_page 502 503 504 = @venue_replicas_down;",
    "            proxy_pass http://venue_replicas;",
    "        }",
    "",
    "        location /v2/ {",
    `            ${readOnlyCheck}`,
    "            error_page 405 = @venue_read_only;",
    "            error_page 502 503 504 = @venue_replicas_down;",
    "            proxy_pass http://venue_replicas;",
  ];
  if (fastPath) {
    lines.push(
      "",
      // A blob is the repository's only when distribution linked it there (_layers/.../link); serving
      // any blob from the shared pool would leak other repositories' layers and hide missing links.
      `            location ~ "^/v2/(?<venue_blob_repository>${repositoryPattern})/blobs/sha256:(?<venue_blob_prefix>[a-f0-9]{2})(?<venue_blob_rest>[a-f0-9]{62})$" {`,
      `                ${readOnlyCheck}`,
      `                if (!-f ${q(`${registryRoot}/repositories/$venue_blob_repository/_layers/sha256/$venue_blob_prefix$venue_blob_rest/link`)}) { return 418; }`,
      "                error_page 405 = @venue_read_only;",
      // Not linked (418), or linked but unreadable or missing on disk: the registry decides and explains.
      "                error_page 403 404 418 = @venue_replicas;",
      `                alias ${q(`${registryRoot}/blobs/sha256/$venue_blob_prefix/$venue_blob_prefix$venue_blob_rest/data`)};`,
      "                types { }",
      "                default_type application/octet-stream;",
      // The registry's own headers, so clients cannot tell the two paths apart.
      "                etag off;",
      "                add_header ETag '\"sha256:$venue_blob_prefix$venue_blob_rest\"';",
      "                add_header Last-Modified '';",
      "                add_header Docker-Content-Digest sha256:$venue_blob_prefix$venue_blob_rest;",
      "                add_header Docker-Distribution-Api-Version registry/2.0;",
      "                add_header Cache-Control max-age=31536000;",
      "                add_header X-Content-Type-Options nosniff;",
      "                add_header Accept-Ranges $venue_partial_accept_ranges;",
      ...(aio === "threads" ? ["                aio threads;"] : []),
      // Link checks and blob files: the same few hundred files are opened thousands of times.
      "                open_file_cache max=8192 inactive=120s;",
      "                open_file_cache_valid 60s;",
      "                open_file_cache_min_uses 1;",
      "                open_file_cache_errors off;",
      "            }",
    );
  }
  lines.push(
    "        }",
    "",
    "        location @venue_replicas {",
    "            recursive_error_pages on;",
    "            error_page 502 503 504 = @venue_replicas_down;",
    "            proxy_pass http://venue_replicas;",
    "        }",
    "",
    "        location @venue_read_only {",
    "            default_type 'application/json; charset=utf-8';",
    `            ${apiVersionHeader}`,
    "            add_header Allow 'GET, HEAD' always;",
    `            return 405 ${jsonBody(registryError("UNSUPPORTED", readOnlyMessage, { method: "$request_method", allowed: ["GET", "HEAD"] }))};`,
    "        }",
    "",
    "        location @venue_replicas_down {",
    "            default_type 'application/json; charset=utf-8';",
    `            ${apiVersionHeader}`,
    "            add_header Retry-After 10 always;",
    `            return 503 ${jsonBody(registryError("UNAVAILABLE", replicasDownMessage, null))};`,
    "        }",
    "",
    "        location /attendee/ {",
    `            alias ${q(attendee)};`,
    "            autoindex off;",
    "            types {",
    "                application/json json;",
    "                application/gzip tgz gz;",
    "            }",
    "            default_type application/octet-stream;",
    "            charset utf-8;",
    // The lock file changes when the facilitator mirrors again: revalidate every time (ETag makes it cheap).
    "            add_header Cache-Control no-cache;",
    "        }",
    "",
    "        location = /attendee/ {",
    "            default_type 'text/plain; charset=utf-8';",
    `            return 404 ${sq("Nothing to list here. Download /attendee/workshop-attendee.tgz, /attendee/venue-lock.json or /attendee/mirrors.json.\n")};`,
    "        }",
    "",
    "        location = /healthz {",
    // Polled by Docker's healthcheck every few seconds: kept out of the attendees' log (here and in
    // the named locations that answer).
    "            access_log off;",
    // auth_request runs in the access phase, after any `return`; try_files runs after it and always
    // falls through to the named location, so the answer reflects the replica probe.
    "            auth_request /_venue/replica-probe;",
    "            auth_request_set $venue_health_replica $upstream_addr;",
    "            error_page 401 403 500 502 503 504 = @venue_unhealthy;",
    `            root ${q(temp)};`,
    "            try_files /nginx-healthz-answers-from-config @venue_healthy;",
    "        }",
    "",
    "        location = /_venue/replica-probe {",
    "            internal;",
    "            proxy_pass http://venue_replicas/v2/;",
    "            proxy_method GET;",
    "            proxy_pass_request_body off;",
    "            proxy_set_header Content-Length '';",
    "            proxy_connect_timeout 2s;",
    "            proxy_read_timeout 5s;",
    "        }",
    "",
    "        location @venue_healthy {",
    "            access_log off;",
    "            default_type 'application/json; charset=utf-8';",
    "            add_header Cache-Control no-store always;",
    `            return 200 ${jsonBody({ status: "ok", frontDoor: "ok", replica: "$venue_health_replica" })};`,
    "        }",
    "",
    "        location @venue_unhealthy {",
    "            access_log off;",
    "            default_type 'application/json; charset=utf-8';",
    "            add_header Cache-Control no-store always;",
    `            return 503 ${jsonBody({ status: "unavailable", frontDoor: "ok", replica: "none answering", message: replicasDownMessage })};`,
    "        }",
    "",
    ...monitorLocations(),
    "",
    "        location / {",
    "            default_type 'text/plain; charset=utf-8';",
    `            return 404 ${sq("Not found. The venue serves /v2/ (registry), /attendee/ (downloads), /guides/ (help for attendees), /healthz and the dashboard at /.\n")};`,
    "        }",
    "    }",
    "",
    "    server {",
    `        listen ${statusListen};`,
    "        server_name _;",
    "        access_log off;",
    "        location = /stub_status {",
    "            stub_status;",
    ...options.status.allow.map((source) => `            allow ${source};`),
    "            deny all;",
    "        }",
    "        location / {",
    "            return 404;",
    "        }",
    "    }",
    "}",
    "",
  );
  return lines.join("\n");
}

/** Fields as docs/architecture.md lists them; the monitor parses exactly these names. */
function accessLogLines(accessLog: string): string[] {
  const field = (name: string, value: string, quoted = true): string =>
    quoted ? `"${name}":"${value}"` : `"${name}":${value}`;
  const fields = [
    field("time", "$time_iso8601"),
    field("remote_addr", "$remote_addr"),
    field("method", "$request_method"),
    field("uri", "$uri"),
    field("status", "$status", false),
    field("bytes_sent", "$bytes_sent", false),
    field("body_bytes_sent", "$body_bytes_sent", false),
    field("request_time", "$request_time", false),
    field("repository", "$venue_log_repository"),
    field("kind", "$venue_log_kind"),
    field("reference", "$venue_log_reference"),
    field("upstream", "$upstream_addr"),
    field("range", "$http_range"),
    field("user_agent", "$http_user_agent"),
    field("request_id", "$request_id"),
  ];
  return [
    "    map $uri $venue_log_kind {",
    "        default other;",
    '        "~^/v2/?$" base;',
    '        "~^/v2/_catalog$" catalog;',
    '        "~^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$" blob;',
    '        "~^/v2/.+/manifests/[^/]+$" manifest;',
    '        "~^/v2/.+/tags/list$" tags;',
    "    }",
    "    map $uri $venue_log_repository {",
    '        default "";',
    '        "~^/v2/(?<venue_log_name>.+)/(?:blobs|manifests|tags)/" $venue_log_name;',
    "    }",
    "    map $uri $venue_log_reference {",
    '        default "";',
    '        "~^/v2/.+/(?:blobs|manifests)/(?<venue_log_ref>[^/]+)$" $venue_log_ref;',
    "    }",
    `    log_format venue_json escape=json '{${fields.join(",")}}';`,
    // Buffered: one write per 64 KiB or per second; the monitor tails the file.
    `    access_log ${q(accessLog)} venue_json buffer=64k flush=1s;`,
  ];
}

function replicaProxySettings(indent: string, replicaCount: number): string[] {
  return [
    "proxy_http_version 1.1;",
    "proxy_set_header Connection '';",
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_set_header X-Request-Id $request_id;",
    // GET and HEAD are idempotent: any failure before the first byte goes to the next replica.
    "proxy_next_upstream error timeout http_502 http_503 http_504;",
    `proxy_next_upstream_tries ${replicaCount};`,
    "proxy_connect_timeout 3s;",
    "proxy_read_timeout 900s;",
    "proxy_send_timeout 900s;",
    // Unbuffered: bytes go to the laptop as they arrive, with no temp file whose 1 GiB default cap
    // would cut large layers short.
    "proxy_buffering off;",
    "proxy_buffer_size 64k;",
    "proxy_buffers 8 64k;",
    "chunked_transfer_encoding on;",
  ].map((line) => indent + line);
}

function monitorLocations(): string[] {
  const proxy = [
    "proxy_pass http://venue_monitor;",
    "proxy_http_version 1.1;",
    "proxy_set_header Connection '';",
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_connect_timeout 3s;",
    "error_page 502 504 = @venue_dashboard_down;",
  ];
  const block = (match: string, extra: string[] = []): string[] => [
    `        location ${match} {`,
    ...[...proxy, ...extra].map((line) => `            ${line}`),
    "        }",
  ];
  return [
    ...block("= /"),
    ...block("/slides"),
    ...block("/guides"),
    ...block("/api/"),
    ...block("/static/"),
    // Server-sent events: every event must reach the browser at once, and the stream stays open.
    ...block("/events", ["proxy_buffering off;", "proxy_cache off;", "proxy_read_timeout 1h;"]),
    "",
    "        location @venue_dashboard_down {",
    "            default_type 'text/plain; charset=utf-8';",
    `            return 502 ${sq(`${dashboardDownMessage}\n`)};`,
    "        }",
  ];
}

function registryError(code: string, message: string, detail: unknown): unknown {
  return { errors: [{ code, message, detail }] };
}

/**
 * A response body for `return`: JSON text plus newline, single-quoted for nginx. Strings in it may
 * name nginx variables ("$request_method"); nginx substitutes them when answering.
 */
function jsonBody(value: unknown): string {
  return sq(`${JSON.stringify(value)}\n`);
}

/** A single-quoted nginx string; a newline is written as nginx's \n escape. */
function sq(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`).replace(/\n/g, "\\n")}'`;
}

/** A double-quoted nginx string. Values are validated first, so only backslash and quote need escaping. */
function q(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const hostPortPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;
// `$` would be read as a variable, `;`, `{`, `}` and quotes end directives, and a newline ends lines.
const safePathPattern = /^\/[A-Za-z0-9._\-/+@~,= ]*$/;
const addressPattern = /^(?:\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?|\[?[0-9A-Fa-f:]+\]?(?:\/\d{1,3})?|all|unix:\/[A-Za-z0-9._\-/]+)$/;

function validate(options: NginxConfigOptions): void {
  const problems: string[] = [];
  const port = (name: string, value: number): void => {
    if (!Number.isInteger(value) || value < 1 || value > 65535) problems.push(`${name} must be a port number (1-65535), got ${value}`);
  };
  const absolutePath = (name: string, value: string): void => {
    if (!safePathPattern.test(value)) {
      problems.push(`${name} must be an absolute path of letters, digits and ._-/+@~,= (got ${JSON.stringify(value)})`);
    }
  };
  port("listenPort", options.listenPort);
  port("status.port", options.status.port);
  if (options.status.port === options.listenPort && (options.status.address ?? "") === (options.listenAddress ?? "")) {
    problems.push("status.port must differ from listenPort: stub_status is served privately on its own port");
  }
  if (options.replicas.length === 0) problems.push("replicas must name at least one registry replica as host:port");
  for (const replica of options.replicas) {
    if (!hostPortPattern.test(replica)) problems.push(`replica ${JSON.stringify(replica)} must be host:port`);
  }
  if (!hostPortPattern.test(options.monitor)) problems.push(`monitor ${JSON.stringify(options.monitor)} must be host:port`);
  for (const address of [options.listenAddress, options.status.address]) {
    if (address !== undefined && !addressPattern.test(address)) problems.push(`listen address ${JSON.stringify(address)} is not an IP address`);
  }
  if (options.status.allow.length === 0) problems.push("status.allow must list who may read stub_status (e.g. 127.0.0.1)");
  for (const source of options.status.allow) {
    if (!addressPattern.test(source)) problems.push(`status.allow entry ${JSON.stringify(source)} is not an address or CIDR`);
  }
  absolutePath("storageRoot", options.storageRoot);
  absolutePath("attendeeDirectory", options.attendeeDirectory);
  absolutePath("accessLog", options.accessLog);
  absolutePath("pidFile", options.pidFile);
  absolutePath("tempDirectory", options.tempDirectory);
  if (options.errorLog !== "stderr") absolutePath("errorLog", options.errorLog);
  if (options.user !== undefined && !/^[a-z_][a-z0-9_-]*$/i.test(options.user)) {
    problems.push(`user ${JSON.stringify(options.user)} is not a Unix user name`);
  }
  const workers = options.workerProcesses;
  if (workers !== undefined && workers !== "auto" && (!Number.isInteger(workers) || workers < 1)) {
    problems.push(`workerProcesses must be "auto" or a positive integer, got ${workers}`);
  }
  for (const [name, value] of [
    ["workerConnections", options.workerConnections],
    ["workerRlimitNofile", options.workerRlimitNofile],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1024)) problems.push(`${name} must be an integer of at least 1024, got ${value}`);
  }
  if (problems.length > 0) {
    throw new Error(`Cannot write the front door's nginx.conf:\n- ${problems.join("\n- ")}`);
  }
}

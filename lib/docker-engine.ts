/**
 * The Docker engine API, spoken directly (no docker CLI needed): the engine is found the way the
 * docker CLI finds it, DOCKER_HOST first, then DOCKER_CONTEXT, then the current context in
 * ~/.docker/config.json, then the platform's default socket or named pipe.
 */
import axios, { AxiosInstance, isAxiosError } from "axios";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";

/** The API version this client speaks; dockerd 20.10 is 1.41 and newer engines accept it too. */
export const ENGINE_API_VERSION = "1.41";

export type EngineTransport =
  | { kind: "unix"; socketPath: string }
  | { kind: "npipe"; pipePath: string }
  | { kind: "tcp"; baseUrl: string; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; verify: boolean } };

export interface EngineEndpoint {
  /** The DOCKER_HOST-style address, e.g. "unix:///var/run/docker.sock". */
  host: string;
  /** Where it came from, for messages: "DOCKER_HOST", 'docker context "colima"', "default". */
  origin: string;
  transport: EngineTransport;
}

export interface EndpointLookup {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  homeDir: string;
  readText(file: string): string | undefined;
  exists(file: string): boolean;
}

export function defaultEndpointLookup(): EndpointLookup {
  return {
    platform: process.platform,
    env: process.env,
    homeDir: os.homedir(),
    readText: (file) => {
      try {
        return fs.readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
    },
    exists: (file) => fs.existsSync(file),
  };
}

export class EngineAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineAddressError";
  }
}

function dockerConfigDir(lookup: EndpointLookup): string {
  return lookup.env.DOCKER_CONFIG || path.join(lookup.homeDir, ".docker");
}

/** Parses a DOCKER_HOST value. tcp:// is plain HTTP unless DOCKER_TLS_VERIFY or DOCKER_CERT_PATH is set. */
export function parseDockerHost(host: string, lookup: EndpointLookup, origin: string): EngineEndpoint {
  const trimmed = host.trim();
  if (trimmed.startsWith("unix://")) {
    return { host: trimmed, origin, transport: { kind: "unix", socketPath: trimmed.slice("unix://".length) } };
  }
  if (trimmed.startsWith("npipe://")) {
    // npipe:////./pipe/docker_engine -> \\.\pipe\docker_engine
    const pipePath = trimmed.slice("npipe://".length).replace(/\//g, "\\");
    return { host: trimmed, origin, transport: { kind: "npipe", pipePath } };
  }
  if (trimmed.startsWith("tcp://") || trimmed.startsWith("http://") || trimmed.startsWith("https://")) {
    const url = new URL(trimmed.replace(/^tcp:/, "http:"));
    const certPath = lookup.env.DOCKER_CERT_PATH;
    const wantsTls = Boolean(lookup.env.DOCKER_TLS_VERIFY) || Boolean(certPath) || trimmed.startsWith("https://");
    if (!wantsTls) {
      return { host: trimmed, origin, transport: { kind: "tcp", baseUrl: `http://${url.host}` } };
    }
    const dir = certPath || dockerConfigDir(lookup);
    const read = (name: string) => {
      const text = lookup.readText(path.join(dir, name));
      return text === undefined ? undefined : Buffer.from(text);
    };
    return {
      host: trimmed,
      origin,
      transport: {
        kind: "tcp",
        baseUrl: `https://${url.host}`,
        tls: { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem"), verify: Boolean(lookup.env.DOCKER_TLS_VERIFY) },
      },
    };
  }
  if (trimmed.startsWith("ssh://")) {
    throw new EngineAddressError(
      `${origin} points at ${trimmed}; this tool cannot reach an engine over ssh. Run it on the machine that runs Docker.`,
    );
  }
  throw new EngineAddressError(`${origin} is "${trimmed}", which is not an address Docker understands (unix://, npipe://, tcp://).`);
}

/** The engine address the docker CLI would use, by the same precedence. */
export function resolveEngineEndpoint(lookup: EndpointLookup = defaultEndpointLookup()): EngineEndpoint {
  if (lookup.env.DOCKER_HOST) return parseDockerHost(lookup.env.DOCKER_HOST, lookup, "DOCKER_HOST");
  const configDir = dockerConfigDir(lookup);
  let contextName = lookup.env.DOCKER_CONTEXT;
  if (!contextName) {
    const configText = lookup.readText(path.join(configDir, "config.json"));
    if (configText) {
      try {
        const parsed = JSON.parse(configText.replace(/^\uFEFF/, "")) as { currentContext?: unknown };
        if (typeof parsed.currentContext === "string") contextName = parsed.currentContext;
      } catch {
        // A broken client config.json is the docker CLI's problem to report; fall back to the default.
      }
    }
  }
  if (contextName && contextName !== "default") {
    // Context folders are named by the SHA-256 of the context name.
    const id = crypto.createHash("sha256").update(contextName).digest("hex");
    const metaFile = path.join(configDir, "contexts", "meta", id, "meta.json");
    const metaText = lookup.readText(metaFile);
    if (metaText === undefined) {
      throw new EngineAddressError(
        `The current docker context is "${contextName}", but ${metaFile} does not exist. Run: docker context use default`,
      );
    }
    const meta = JSON.parse(metaText) as { Endpoints?: { docker?: { Host?: string } } };
    const host = meta.Endpoints?.docker?.Host;
    if (!host) throw new EngineAddressError(`The docker context "${contextName}" has no engine address (${metaFile}).`);
    return parseDockerHost(host, lookup, `docker context "${contextName}"`);
  }
  if (lookup.platform === "win32") return parseDockerHost("npipe:////./pipe/docker_engine", lookup, "default");
  // Docker Desktop for Mac may be set up without the /var/run/docker.sock link (no admin rights).
  const desktopUserSocket = path.join(lookup.homeDir, ".docker", "run", "docker.sock");
  if (lookup.platform === "darwin" && !lookup.exists("/var/run/docker.sock") && lookup.exists(desktopUserSocket)) {
    return parseDockerHost(`unix://${desktopUserSocket}`, lookup, "default");
  }
  return parseDockerHost("unix:///var/run/docker.sock", lookup, "default");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The engine does not answer at all: not started, wrong address, or no rights on the socket. */
export class EngineUnreachableError extends Error {
  constructor(
    readonly endpoint: EngineEndpoint,
    readonly code: string,
    detail: string,
  ) {
    super(`Docker is not answering at ${endpoint.host} (from ${endpoint.origin}): ${detail}`);
    this.name = "EngineUnreachableError";
  }
  get permissionDenied(): boolean {
    return this.code === "EACCES" || this.code === "EPERM";
  }
}

/** The engine answered with an error status. */
export class EngineApiError extends Error {
  constructor(
    readonly status: number,
    readonly operation: string,
    readonly engineMessage: string,
  ) {
    super(`Docker refused to ${operation}: ${engineMessage} (HTTP ${status})`);
    this.name = "EngineApiError";
  }
}

/** A pull that the engine started but reported as failed in its progress stream. */
export class PullFailedError extends Error {
  constructor(
    readonly reference: string,
    readonly engineMessage: string,
  ) {
    super(`pulling ${reference} failed: ${engineMessage}`);
    this.name = "PullFailedError";
  }
}

// ---------------------------------------------------------------------------------------------
// API shapes (only the fields this project reads)
// ---------------------------------------------------------------------------------------------

export interface EngineInfo {
  ID?: string;
  Name?: string;
  ServerVersion?: string;
  OperatingSystem?: string;
  OSType?: string;
  Architecture?: string;
  DockerRootDir?: string;
  SecurityOptions?: string[];
  Labels?: string[];
  RegistryConfig?: {
    InsecureRegistryCIDRs?: string[];
    IndexConfigs?: Record<string, { Name: string; Secure: boolean; Mirrors?: string[]; Official?: boolean }>;
    Mirrors?: string[];
  };
}

export interface EngineVersion {
  Version: string;
  ApiVersion: string;
  Os: string;
  Arch: string;
  Platform?: { Name?: string };
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Os: string;
  Architecture: string;
  Variant?: string;
  Size: number;
}

export interface ImageSummary {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Size: number;
}

/** One line of the engine's pull progress stream. */
export interface PullProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

export interface DockerEngineOptions {
  endpoint?: EngineEndpoint;
  /** For plain requests; pulls stream for as long as they take. */
  timeoutMs?: number;
}

function engineMessage(data: unknown): string {
  if (data && typeof data === "object" && "message" in data) return String((data as { message: unknown }).message);
  if (typeof data === "string") {
    try {
      return engineMessage(JSON.parse(data));
    } catch {
      return data.trim();
    }
  }
  return "no details";
}

export class DockerEngine {
  readonly endpoint: EngineEndpoint;
  private readonly http: AxiosInstance;

  constructor(options: DockerEngineOptions = {}) {
    this.endpoint = options.endpoint ?? resolveEngineEndpoint();
    const transport = this.endpoint.transport;
    const common = { timeout: options.timeoutMs ?? 30_000, validateStatus: () => true, maxRedirects: 0, proxy: false as const };
    if (transport.kind === "unix") {
      this.http = axios.create({ ...common, baseURL: `http://docker/v${ENGINE_API_VERSION}`, socketPath: transport.socketPath });
    } else if (transport.kind === "npipe") {
      this.http = axios.create({ ...common, baseURL: `http://docker/v${ENGINE_API_VERSION}`, socketPath: transport.pipePath });
    } else {
      const httpsAgent = transport.tls
        ? new https.Agent({ ca: transport.tls.ca, cert: transport.tls.cert, key: transport.tls.key, rejectUnauthorized: transport.tls.verify })
        : undefined;
      this.http = axios.create({ ...common, baseURL: `${transport.baseUrl}/v${ENGINE_API_VERSION}`, httpsAgent });
    }
  }

  private async request<T>(operation: string, config: Parameters<AxiosInstance["request"]>[0]): Promise<{ status: number; data: T }> {
    try {
      const response = await this.http.request<T>(config);
      return { status: response.status, data: response.data };
    } catch (error) {
      if (isAxiosError(error) && !error.response) {
        const code = error.code ?? "UNKNOWN";
        const detail =
          code === "ENOENT" || code === "ECONNREFUSED"
            ? "nothing is listening there (is Docker running?)"
            : code === "EACCES"
              ? "permission denied on the Docker socket"
              : code === "ECONNABORTED" || code === "ETIMEDOUT"
                ? `no answer within the time limit while trying to ${operation}`
                : error.message;
        throw new EngineUnreachableError(this.endpoint, code, detail);
      }
      throw error;
    }
  }

  private async expectOk<T>(operation: string, config: Parameters<AxiosInstance["request"]>[0], okStatuses = [200]): Promise<T> {
    const response = await this.request<T>(operation, config);
    if (!okStatuses.includes(response.status)) throw new EngineApiError(response.status, operation, engineMessage(response.data));
    return response.data;
  }

  /** True when the engine answers /_ping; false (never throws) when it does not. */
  async ping(timeoutMs = 5_000): Promise<boolean> {
    try {
      const response = await this.request<string>("ping", { method: "GET", url: "/_ping", timeout: timeoutMs, responseType: "text" });
      return response.status === 200;
    } catch {
      return false;
    }
  }

  info(): Promise<EngineInfo> {
    return this.expectOk<EngineInfo>("report its configuration", { method: "GET", url: "/info" });
  }

  version(): Promise<EngineVersion> {
    return this.expectOk<EngineVersion>("report its version", { method: "GET", url: "/version" });
  }

  /** Returns undefined when the image is not present. */
  async inspectImage(reference: string): Promise<ImageInspect | undefined> {
    const response = await this.request<ImageInspect>("inspect an image", { method: "GET", url: `/images/${encodeURIComponent(reference)}/json` });
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw new EngineApiError(response.status, `inspect ${reference}`, engineMessage(response.data));
    return response.data;
  }

  listImages(): Promise<ImageSummary[]> {
    return this.expectOk<ImageSummary[]>("list images", { method: "GET", url: "/images/json" });
  }

  /** Gives an image present in the engine another name, e.g. workshop/postgres:15-alpine. */
  async tagImage(source: string, repository: string, tag: string): Promise<void> {
    await this.expectOk<unknown>(`tag ${source} as ${repository}:${tag}`, {
      method: "POST",
      url: `/images/${encodeURIComponent(source)}/tag`,
      params: { repo: repository, tag },
    }, [200, 201]);
  }

  async removeImage(reference: string, force = true): Promise<void> {
    await this.expectOk<unknown>(`remove ${reference}`, { method: "DELETE", url: `/images/${encodeURIComponent(reference)}`, params: { force } }, [200, 404]);
  }

  /**
   * Pulls `name@digest` or `name:tag`, calling onProgress for every line of the engine's progress
   * stream. The engine reports failures inside the stream with HTTP 200, so the stream is read to
   * its end and an "error" line becomes a PullFailedError. Aborting `signal` closes the request,
   * which makes the engine cancel the pull (and free its download slots); the pull then fails with
   * the abort's reason.
   */
  async pull(
    reference: string,
    onProgress: (message: PullProgressMessage) => void = () => undefined,
    platform?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    let failure: string | undefined;
    try {
      failure = await this.readPull(reference, onProgress, platform, signal);
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
    // Wherever the request was when the abort came, the abort is the reason.
    if (signal?.aborted) throw new PullFailedError(reference, signal.reason instanceof Error ? signal.reason.message : "cancelled");
    if (failure !== undefined) throw new PullFailedError(reference, failure);
  }

  /** Runs the engine's pull to the end of its progress stream; returns the failure the engine reported, if any. */
  private async readPull(
    reference: string,
    onProgress: (message: PullProgressMessage) => void,
    platform: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const at = reference.lastIndexOf("@");
    const colon = reference.lastIndexOf(":");
    const slash = reference.lastIndexOf("/");
    let fromImage = reference;
    let tag: string | undefined;
    if (at > 0) {
      fromImage = reference.slice(0, at);
      tag = reference.slice(at + 1);
    } else if (colon > slash) {
      fromImage = reference.slice(0, colon);
      tag = reference.slice(colon + 1);
    }
    const response = await this.request<NodeJS.ReadableStream>(`pull ${reference}`, {
      method: "POST",
      url: "/images/create",
      params: { fromImage, tag, platform },
      responseType: "stream",
      timeout: 0,
      signal,
    });
    if (response.status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of response.data) chunks.push(Buffer.from(chunk as Buffer));
      return engineMessage(Buffer.concat(chunks).toString("utf8"));
    }
    let pending = "";
    let failure: string | undefined;
    const handleLine = (line: string) => {
      if (!line.trim()) return;
      let message: PullProgressMessage;
      try {
        message = JSON.parse(line) as PullProgressMessage;
      } catch {
        return;
      }
      if (message.error) failure = message.errorDetail?.message ?? message.error;
      onProgress(message);
    };
    for await (const chunk of response.data) {
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        handleLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    handleLine(pending);
    return failure;
  }
}

/** Is `registry` (host:port) one the engine will talk plain HTTP to? */
export function isInsecureRegistry(info: EngineInfo, registry: string): boolean {
  const config = info.RegistryConfig;
  if (!config) return false;
  const index = config.IndexConfigs?.[registry];
  if (index && index.Secure === false) return true;
  const host = registry.replace(/:\d+$/, "");
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return false;
  return (config.InsecureRegistryCIDRs ?? []).some((cidr) => ipv4InCidr(host, cidr));
}

function ipv4ToNumber(ip: string): number {
  return ip.split(".").reduce((value, part) => value * 256 + Number(part), 0);
}

export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(base)) return false;
  const bits = Number(bitsText ?? "32");
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToNumber(ip) / size) === Math.floor(ipv4ToNumber(base) / size);
}

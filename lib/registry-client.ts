/**
 * A client for the distribution (Docker registry v2) API, on axios: ping, bearer-token and basic
 * auth following the registry's WWW-Authenticate challenge, manifests of every image media type kept
 * byte for byte, HEAD for existence, streamed blob download and upload with the sha256 checked while
 * the bytes flow, cross-repository mounts, catalog and tag listing with Link pagination.
 *
 * Plain HTTP is used for loopback hosts and for registries named insecure; HTTPS otherwise. Network
 * errors and 5xx answers are retried with bounded exponential backoff; a 429 is reported at once,
 * with the wait the registry asked for. Every error names the registry, the repository and what to do.
 */
import axios, { AxiosInstance, AxiosResponse, Method } from "axios";
import * as crypto from "crypto";
import * as http from "http";
import * as https from "https";
import { Readable, Transform, TransformCallback } from "stream";
import { CredentialsError, RegistryCredentials, lookupCredentials } from "./docker-credentials";
import { DOCKER_HUB, registryApiHost } from "./image-reference";
import { MANIFEST_ACCEPT, sha256Digest } from "./manifest";

export type Action = "pull" | "push";

export interface RegistryClientOptions {
  /** As image references name it: "docker.io", "ghcr.io", "127.0.0.1:5001". */
  registry: string;
  /** Registries to reach over plain HTTP besides loopback ("host:port", as for Docker's insecure-registries). */
  insecureRegistries?: readonly string[];
  /**
   * Credentials to use, or a function that finds them (called only when the registry asks for
   * auth). Defaults to what `docker login` saved.
   */
  credentials?: RegistryCredentials | (() => RegistryCredentials | undefined);
  /** Retries after a network error or 5xx (default 4, so 5 attempts). */
  retries?: number;
  /** First backoff delay; it doubles per retry, capped at 8 s (default 250 ms). */
  retryBaseDelayMs?: number;
  /** A socket silent this long fails the request (default 120 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly registry: string,
    readonly repository?: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

export class RateLimitedError extends RegistryError {
  constructor(
    registry: string,
    repository: string | undefined,
    readonly retryAfterSeconds: number | undefined,
  ) {
    const wait = retryAfterSeconds === undefined ? "retry in a few minutes" : `retry after ${retryAfterSeconds} s`;
    const hint = registry === DOCKER_HUB ? "Docker Hub limits anonymous pulls; run docker login" : `the registry limits request rates; wait, or run docker login ${registry} if it gives logged-in users more`;
    super(`rate limited by ${registry}${repository ? ` while reading ${repository}` : ""}, ${wait} (${hint})`, registry, repository, 429, "TOOMANYREQUESTS");
    this.name = "RateLimitedError";
  }
}

export class DigestMismatchError extends RegistryError {
  constructor(
    registry: string,
    repository: string,
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(
      `${what} ${expected} from ${registry}/${repository} does not match its digest (the bytes hash to ${actual}); ` +
        `the copy was refused. The source's storage is corrupt or something altered the data in transit: re-push the image to the source, or mirror from another source.`,
      registry,
      repository,
      undefined,
      "DIGEST_INVALID",
    );
    this.name = "DigestMismatchError";
  }
}

export interface FetchedManifest {
  /** Exactly as the registry sent them. */
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

type Challenge = { scheme: "none" } | { scheme: "basic" } | { scheme: "bearer"; realm: string; service?: string };

const RETRYABLE_NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "ERR_SOCKET_CONNECTION_TIMEOUT"]);
const RETRYABLE_STATUSES = new Set([500, 502, 503, 504]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function hostWithoutPort(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const colon = registry.lastIndexOf(":");
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

/** Loopback registries and the listed insecure ones speak plain HTTP, as Docker assumes. */
export function usesPlainHttp(registry: string, insecureRegistries: readonly string[] = []): boolean {
  const host = hostWithoutPort(registry).toLowerCase();
  if (host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  return insecureRegistries.some((entry) => entry.toLowerCase() === registry.toLowerCase());
}

export function parseChallenge(header: string | undefined): Challenge {
  if (!header) return { scheme: "none" };
  const scheme = header.trim().split(/\s+/)[0].toLowerCase();
  if (scheme === "basic") return { scheme: "basic" };
  if (scheme !== "bearer") return { scheme: "none" };
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) params[match[1].toLowerCase()] = match[2];
  if (!params.realm) return { scheme: "none" };
  return { scheme: "bearer", realm: params.realm, service: params.service };
}

/** The next page from a Link header such as `</v2/_catalog?last=b&n=100>; rel="next"`. */
export function nextPageFromLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return match?.[1];
}

function networkCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code;
}

function registryErrorCode(body: unknown): { code?: string; message?: string } {
  const errors = (body as { errors?: Array<{ code?: string; message?: string }> } | undefined)?.errors;
  if (Array.isArray(errors) && errors.length > 0) return { code: errors[0].code, message: errors[0].message };
  return {};
}

async function readSmallBody(response: AxiosResponse): Promise<unknown> {
  let raw: Buffer;
  if (response.data instanceof Readable) {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of response.data as AsyncIterable<Buffer>) {
      if (length < 16_384) chunks.push(chunk);
      length += chunk.length;
    }
    raw = Buffer.concat(chunks);
  } else if (Buffer.isBuffer(response.data)) {
    raw = response.data;
  } else if (response.data instanceof ArrayBuffer) {
    raw = Buffer.from(response.data);
  } else {
    return response.data;
  }
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    return raw.toString("utf8").slice(0, 300);
  }
}

/**
 * Passes bytes through while hashing them and fails the stream when they do not hash to the digest
 * or their count is wrong. The last chunk is held back until the hash is checked, so a consumer never
 * receives the complete bytes of a corrupt blob.
 */
export class DigestVerifyingStream extends Transform {
  private readonly hash = crypto.createHash("sha256");
  private held: Buffer | undefined;
  private count = 0;

  constructor(
    private readonly expectedDigest: string,
    private readonly expectedSize: number | undefined,
    private readonly mismatch: (actual: string) => Error,
    private readonly onBytes?: (count: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.held) this.push(this.held);
    this.held = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.hash.digest("hex")}`;
    if (actual !== this.expectedDigest || (this.expectedSize !== undefined && this.count !== this.expectedSize)) {
      callback(this.mismatch(actual));
      return;
    }
    if (this.held) this.push(this.held);
    callback();
  }
}

/** How many times one blob read is picked up again after its connection broke. */
export const MAX_BLOB_RESUMES = 5;

/**
 * The bytes of a blob, across broken connections: when `body` fails (or ends early) before `size`
 * bytes, `reopen(offset)` gives the rest, with `skip` bytes to drop first when the source could only
 * start over. Without a known size there is nothing to resume against, and a failure is final.
 */
async function* resumingBody(
  body: Readable,
  size: number | undefined,
  reopen: (offset: number) => Promise<{ body: Readable; skip: number }>,
  pause: (attempt: number) => Promise<void>,
): AsyncGenerator<Buffer> {
  let offset = 0;
  let skip = 0;
  let current = body;
  for (let resumes = 0; ; ) {
    let failure: unknown;
    try {
      for await (const chunk of current) {
        let bytes = chunk as Buffer;
        if (skip > 0) {
          if (bytes.length <= skip) {
            skip -= bytes.length;
            continue;
          }
          bytes = bytes.subarray(skip);
          skip = 0;
        }
        offset += bytes.length;
        yield bytes;
      }
    } catch (error) {
      failure = error;
    }
    const complete = size === undefined || offset >= size;
    if (failure === undefined && complete) return;
    if (size === undefined || complete || resumes >= MAX_BLOB_RESUMES) {
      if (failure !== undefined) throw failure;
      return; // short, and nothing to resume against: the digest check names the problem
    }
    resumes += 1;
    current.destroy();
    await pause(resumes);
    ({ body: current, skip } = await reopen(offset));
  }
}

interface SendOptions {
  method: Method;
  /** A path below the registry ("/v2/...") or an absolute URL (an upload Location). */
  url: string;
  repository?: string;
  actions?: Action[];
  /** Other scopes the request needs, e.g. pull on the repository a blob is mounted from. */
  extraScopes?: string[];
  headers?: Record<string, string>;
  data?: Buffer | Readable;
  responseType?: "arraybuffer" | "stream";
  /** Whether the request can be sent again (not when the body is a stream). */
  replayable?: boolean;
  maxRedirects?: number;
  /** "manifest workshop/app:1.0", for messages. */
  what: string;
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly retries: number;
  private readonly retryBaseDelayMs: number;
  private challenge: Promise<Challenge> | undefined;
  private credentials: { value: RegistryCredentials | undefined } | undefined;
  private readonly tokens = new Map<string, Promise<{ token: string; expiresAt: number }>>();

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = options.registry;
    const plain = usesPlainHttp(options.registry, options.insecureRegistries);
    this.baseUrl = `${plain ? "http" : "https"}://${registryApiHost(options.registry)}`;
    this.retries = options.retries ?? 4;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 250;
    const agentOptions = { keepAlive: true, maxSockets: 32 };
    this.http = axios.create({
      validateStatus: () => true,
      timeout: options.idleTimeoutMs ?? 120_000,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      decompress: false,
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      // Loopback traffic must not go through a corporate proxy from the environment.
      proxy: plain && /^(localhost|127\.|\[::1\])/.test(options.registry) ? false : undefined,
      headers: { "User-Agent": options.userAgent ?? "venue-registry-mirror" },
    });
  }

  private describe(repository?: string): string {
    return repository ? `${this.registry}/${repository}` : this.registry;
  }

  private resolveCredentials(): RegistryCredentials | undefined {
    if (!this.credentials) {
      const given = this.options.credentials;
      const value = typeof given === "function" ? given() : given ?? lookupCredentials(this.registry);
      this.credentials = { value };
    }
    return this.credentials.value;
  }

  /** GET /v2/: reachability, and the auth challenge every later request follows. */
  async ping(): Promise<void> {
    await this.learnChallenge();
  }

  private learnChallenge(): Promise<Challenge> {
    this.challenge ??= this.fetchChallenge().catch((error) => {
      this.challenge = undefined;
      throw error;
    });
    return this.challenge;
  }

  private async fetchChallenge(): Promise<Challenge> {
    const response = await this.withRetries("/v2/", undefined, () =>
      this.http.request({ method: "GET", url: `${this.baseUrl}/v2/`, responseType: "arraybuffer" }),
    );
    if (response.status === 200) return { scheme: "none" };
    if (response.status === 401) return parseChallenge(response.headers["www-authenticate"] as string | undefined);
    if (response.status === 429) throw this.rateLimited(response, undefined);
    if (response.status === 404) {
      throw new RegistryError(`${this.baseUrl}/v2/ answered 404: ${this.registry} does not serve the registry API there; check the host and port`, this.registry, undefined, 404);
    }
    throw new RegistryError(`${this.baseUrl}/v2/ answered ${response.status}; ${this.registry} is not answering as a registry, try again later`, this.registry, undefined, response.status);
  }

  /** Runs one attempt function, retrying network errors and 5xx with backoff. */
  private async withRetries(what: string, repository: string | undefined, attempt: () => Promise<AxiosResponse>, replayable = true): Promise<AxiosResponse> {
    for (let tries = 0; ; tries++) {
      const canRetry = replayable && tries < this.retries;
      try {
        const response = await attempt();
        if (!RETRYABLE_STATUSES.has(response.status) || !canRetry) return response;
        await readSmallBody(response).catch(() => undefined);
      } catch (error) {
        const code = networkCode(error);
        if (!canRetry || !code || !RETRYABLE_NETWORK_CODES.has(code)) throw this.networkFailure(error, what, repository);
      }
      const delay = Math.min(this.retryBaseDelayMs * 2 ** tries, 8_000);
      await sleep(delay);
    }
  }

  private networkFailure(error: unknown, what: string, repository: string | undefined): Error {
    if (error instanceof RegistryError || error instanceof CredentialsError) return error;
    const code = networkCode(error) ?? (error as Error).message;
    let hint = `check that ${this.registry} is running and reachable, then run the command again`;
    if (this.baseUrl.startsWith("https:") && /EPROTO|wrong version number|SSL/i.test(`${code} ${(error as Error).message}`)) {
      hint = `it may speak plain HTTP: pass --insecure ${this.registry}`;
    } else if (code === "ENOTFOUND") {
      hint = `the host name does not resolve; check the spelling and your network`;
    }
    return new RegistryError(`cannot reach ${this.describe(repository)} (${what}, ${this.baseUrl}): ${code}; ${hint}`, this.registry, repository, undefined, code);
  }

  private scopesFor(options: SendOptions): string[] {
    const scopes = [...(options.extraScopes ?? [])];
    if (options.repository && options.actions) scopes.unshift(`repository:${options.repository}:${options.actions.join(",")}`);
    return scopes;
  }

  private async authorization(scopes: string[], renew: boolean): Promise<string | undefined> {
    const challenge = await this.learnChallenge();
    if (challenge.scheme === "none") return undefined;
    const credentials = this.resolveCredentials();
    if (challenge.scheme === "basic") {
      if (!credentials?.username || credentials.password === undefined) return undefined;
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
    }
    const key = [...scopes].sort().join(" ");
    let cached = this.tokens.get(key);
    if (cached && !renew) {
      const { token, expiresAt } = await cached;
      if (expiresAt > Date.now() + 5_000) return `Bearer ${token}`;
    }
    cached = this.fetchToken(challenge, scopes, credentials);
    this.tokens.set(key, cached);
    cached.catch(() => this.tokens.delete(key));
    return `Bearer ${(await cached).token}`;
  }

  private async fetchToken(challenge: Extract<Challenge, { scheme: "bearer" }>, scopes: string[], credentials: RegistryCredentials | undefined): Promise<{ token: string; expiresAt: number }> {
    const started = Date.now();
    let response: AxiosResponse;
    if (credentials?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: credentials.identityToken, client_id: "venue-registry" });
      if (challenge.service) form.set("service", challenge.service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      response = await this.withRetries("token", undefined, () =>
        this.http.request({ method: "POST", url: challenge.realm, data: form.toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" }, responseType: "arraybuffer" }),
      );
    } else {
      const url = new URL(challenge.realm);
      if (challenge.service) url.searchParams.set("service", challenge.service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const headers: Record<string, string> = {};
      if (credentials?.username && credentials.password !== undefined) {
        headers.Authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
      }
      response = await this.withRetries("token", undefined, () => this.http.request({ method: "GET", url: url.toString(), headers, responseType: "arraybuffer" }));
    }
    if (response.status === 429) throw this.rateLimited(response, undefined);
    const body = (await readSmallBody(response)) as { token?: string; access_token?: string; expires_in?: number };
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError(
        credentials
          ? `the token service of ${this.registry} (${challenge.realm}) refused the credentials from ${credentials.origin}; run docker login ${this.registry} again`
          : `the token service of ${this.registry} (${challenge.realm}) refused an anonymous token; run docker login ${this.registry}`,
        this.registry,
        undefined,
        response.status,
        "UNAUTHORIZED",
      );
    }
    const token = body?.token ?? body?.access_token;
    if (response.status !== 200 || !token) {
      throw new RegistryError(`the token service of ${this.registry} (${challenge.realm}) answered ${response.status} without a token; try again later`, this.registry, undefined, response.status);
    }
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresAt: started + lifetime * 1000 };
  }

  /** One request with auth and retries. Callers interpret the status. */
  private async send(options: SendOptions): Promise<AxiosResponse> {
    const scopes = this.scopesFor(options);
    const replayable = options.replayable ?? !(options.data instanceof Readable);
    const url = /^https?:\/\//.test(options.url) ? options.url : `${this.baseUrl}${options.url}`;
    let renewed = false;
    for (;;) {
      const authorization = await this.authorization(scopes, renewed);
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (authorization) headers.Authorization = authorization;
      const response = await this.withRetries(
        options.what,
        options.repository,
        () =>
          this.http.request({
            method: options.method,
            url,
            headers,
            data: options.data,
            responseType: options.responseType ?? "arraybuffer",
            maxRedirects: options.maxRedirects ?? 5,
          }),
        replayable,
      );
      // An expired or too narrow token: fetch a fresh one once.
      if (response.status === 401 && replayable && !renewed && authorization?.startsWith("Bearer ")) {
        await readSmallBody(response).catch(() => undefined);
        renewed = true;
        continue;
      }
      return response;
    }
  }

  private rateLimited(response: AxiosResponse, repository: string | undefined): RateLimitedError {
    const header = response.headers["retry-after"] as string | undefined;
    let seconds: number | undefined;
    if (header && /^\d+$/.test(header.trim())) seconds = Number(header.trim());
    else if (header && !Number.isNaN(Date.parse(header))) seconds = Math.max(0, Math.ceil((Date.parse(header) - Date.now()) / 1000));
    return new RateLimitedError(this.registry, repository, seconds);
  }

  /** Turns an unexpected answer into an error that says what to do. */
  private async failure(response: AxiosResponse, what: string, repository: string | undefined, action: Action = "pull"): Promise<RegistryError> {
    if (response.status === 429) {
      await readSmallBody(response).catch(() => undefined);
      return this.rateLimited(response, repository);
    }
    const body = await readSmallBody(response).catch(() => undefined);
    const { code, message } = registryErrorCode(body);
    const detail = code ? ` ${code}${message ? ` (${message})` : ""}` : "";
    const where = this.describe(repository);
    if (response.status === 401 || response.status === 403) {
      const credentials = this.credentials?.value;
      const advice = credentials
        ? `the credentials from ${credentials.origin} do not allow ${action} there; check the name, or run docker login ${this.registry} with an account that has access`
        : `the repository may be private or misspelt; if you have access, run docker login ${this.registry} and try again`;
      return new RegistryError(`${this.registry} refused ${what} in ${where} (${response.status}${detail}): ${advice}`, this.registry, repository, response.status, code);
    }
    if (response.status === 404) {
      return new RegistryError(`${what} does not exist in ${where} (404${detail}); check the image name and tag`, this.registry, repository, 404, code);
    }
    if (response.status === 405 && action === "push") {
      return new RegistryError(`${where} refused to store ${what} (405${detail}): the registry is read-only; point --registry at the writable registry`, this.registry, repository, 405, code);
    }
    return new RegistryError(`${where} answered ${response.status}${detail} to ${what}; try again, and check the registry's log if it persists`, this.registry, repository, response.status, code);
  }

  // -------------------------------------------------------------------------------------------
  // Manifests
  // -------------------------------------------------------------------------------------------

  /** The manifest or index under a tag or digest, bytes untouched, digest checked. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    const response = await this.send({ method: "GET", url: `/v2/${repository}/manifests/${reference}`, repository, actions: ["pull"], headers: { Accept: MANIFEST_ACCEPT }, what });
    if (response.status !== 200) throw await this.failure(response, what, repository);
    const bytes = Buffer.from(response.data as ArrayBuffer);
    const digest = sha256Digest(bytes);
    const announced = response.headers["docker-content-digest"] as string | undefined;
    const expected = reference.startsWith("sha256:") ? reference : announced?.startsWith("sha256:") ? announced : undefined;
    if (expected && expected !== digest) throw new DigestMismatchError(this.registry, repository, expected, digest, "manifest");
    const mediaType = String(response.headers["content-type"] ?? "").split(";")[0].trim();
    return { bytes, mediaType, digest };
  }

  /** Whether a manifest exists (by tag or digest), without downloading it. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const what = `manifest ${reference}`;
    const response = await this.send({ method: "HEAD", url: `/v2/${repository}/manifests/${reference}`, repository, actions: ["pull"], headers: { Accept: MANIFEST_ACCEPT }, what });
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw await this.failure(response, what, repository);
    const digest = String(response.headers["docker-content-digest"] ?? (reference.startsWith("sha256:") ? reference : ""));
    return { digest, mediaType: String(response.headers["content-type"] ?? "").split(";")[0].trim(), size: Number(response.headers["content-length"] ?? 0) };
  }

  /** Stores a manifest under a tag or digest; returns its digest, which must be the hash of the bytes sent. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const what = `manifest ${reference}`;
    const response = await this.send({ method: "PUT", url: `/v2/${repository}/manifests/${reference}`, repository, actions: ["pull", "push"], headers: { "Content-Type": mediaType }, data: bytes, what });
    if (response.status !== 201 && response.status !== 200) throw await this.failure(response, what, repository, "push");
    const digest = sha256Digest(bytes);
    const stored = response.headers["docker-content-digest"] as string | undefined;
    if (stored && stored !== digest) {
      throw new RegistryError(`${this.describe(repository)} stored ${what} as ${stored}, not ${digest}: the registry rewrote the manifest; use a registry that keeps manifests as pushed`, this.registry, repository);
    }
    return digest;
  }

  // -------------------------------------------------------------------------------------------
  // Blobs
  // -------------------------------------------------------------------------------------------

  /** The blob's size when the repository has it, else undefined. */
  async headBlob(repository: string, digest: string): Promise<number | undefined> {
    const what = `blob ${digest}`;
    const response = await this.send({ method: "HEAD", url: `/v2/${repository}/blobs/${digest}`, repository, actions: ["pull"], what });
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw await this.failure(response, what, repository);
    return Number(response.headers["content-length"] ?? 0);
  }

  /**
   * Streams a blob. The returned stream fails, before yielding its last bytes, when the content does
   * not hash to `digest` or is not `size` bytes long. `onBytes` counts bytes as they arrive.
   *
   * With `size` known, a connection lost part-way is picked up where it broke (a Range request), up
   * to MAX_BLOB_RESUMES times: on hotel Wi-Fi a 1 GB layer that breaks at 900 MB costs 100 MB more,
   * not 900 MB. A source that ignores Range sends it all again and the bytes already had are skipped.
   */
  async openBlob(repository: string, digest: string, size?: number, onBytes?: (count: number) => void): Promise<Readable> {
    const what = `blob ${digest}`;
    const url = `/v2/${repository}/blobs/${digest}`;
    const response = await this.send({ method: "GET", url, repository, actions: ["pull"], responseType: "stream", what });
    if (response.status !== 200) throw await this.failure(response, what, repository);
    const verifier = new DigestVerifyingStream(digest, size, (actual) => new DigestMismatchError(this.registry, repository, digest, actual, "blob"), onBytes);
    const reopen = async (offset: number): Promise<{ body: Readable; skip: number }> => {
      const again = await this.send({ method: "GET", url, repository, actions: ["pull"], responseType: "stream", headers: { Range: `bytes=${offset}-` }, what });
      if (again.status === 200) return { body: again.data as Readable, skip: offset };
      const start = /^bytes (\d+)-/.exec(String(again.headers["content-range"] ?? ""))?.[1];
      if (again.status === 206 && Number(start) === offset) return { body: again.data as Readable, skip: 0 };
      (again.data as Readable).destroy?.();
      throw new RegistryError(`${this.describe(repository)} answered ${again.status} when asked for the rest of ${what} from byte ${offset}`, this.registry, repository, again.status);
    };
    const bytes = Readable.from(resumingBody(response.data as Readable, size, reopen, (attempt) => this.sleepBeforeResume(attempt)), { objectMode: false });
    bytes.on("error", (error) => verifier.destroy(error instanceof RegistryError ? error : this.networkFailure(error, what, repository)));
    return bytes.pipe(verifier);
  }

  private sleepBeforeResume(attempt: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.min(this.retryBaseDelayMs * 2 ** (attempt - 1), 8_000)));
  }

  /**
   * Starts an upload; with `mountFrom`, first asks the registry to link the blob from another of
   * its repositories, which needs no bytes at all. Returns "mounted" or the upload's location.
   */
  async startUpload(repository: string, options: { mountFrom?: string; digest?: string } = {}): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const mount = options.mountFrom && options.digest ? `?mount=${encodeURIComponent(options.digest)}&from=${encodeURIComponent(options.mountFrom)}` : "";
    const what = mount ? `mount of ${options.digest} from ${options.mountFrom}` : "blob upload";
    const response = await this.send({
      method: "POST",
      url: `/v2/${repository}/blobs/uploads/${mount}`,
      repository,
      actions: ["pull", "push"],
      extraScopes: options.mountFrom ? [`repository:${options.mountFrom}:pull`] : [],
      headers: { "Content-Length": "0" },
      what,
    });
    await readSmallBody(response).catch(() => undefined);
    if (response.status === 201 && mount) return { mounted: true };
    if (response.status !== 202) throw await this.failure(response, what, repository, "push");
    const location = response.headers.location as string | undefined;
    if (!location) throw new RegistryError(`${this.describe(repository)} started an upload without a Location header; this registry is not supported`, this.registry, repository);
    return { mounted: false, location: new URL(location, this.baseUrl).toString() };
  }

  /** Finishes an upload with one streamed PUT of the whole blob (the body is never held in memory). */
  async finishUpload(repository: string, location: string, digest: string, size: number, body: Readable): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const what = `blob ${digest}`;
    let bodyError: Error | undefined;
    body.once("error", (error) => (bodyError ??= error));
    let response: AxiosResponse;
    try {
      response = await this.send({
        method: "PUT",
        url: url.toString(),
        repository,
        actions: ["pull", "push"],
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
        data: body,
        replayable: false,
        maxRedirects: 0,
        what,
      });
    } catch (error) {
      throw bodyError ?? error;
    }
    if (bodyError) throw bodyError;
    if (response.status !== 201) {
      const failure = await this.failure(response, what, repository, "push");
      if (failure.code === "DIGEST_INVALID" || failure.code === "SIZE_INVALID") {
        throw new RegistryError(`${this.describe(repository)} refused ${what}: the uploaded bytes do not match its digest or size (${failure.code}); run the mirror again`, this.registry, repository, response.status, failure.code);
      }
      throw failure;
    }
  }

  /**
   * Uploads a blob: mounted from `mountFrom` when the registry has it there, else streamed from
   * `open()`. Returns how it got there.
   */
  async uploadBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>, mountFrom?: string): Promise<"mounted" | "uploaded"> {
    const started = await this.startUpload(repository, { mountFrom, digest });
    if (started.mounted) return "mounted";
    const body = await open();
    await this.finishUpload(repository, started.location, digest, size, body);
    return "uploaded";
  }

  // -------------------------------------------------------------------------------------------
  // Listing
  // -------------------------------------------------------------------------------------------

  private async listPages<T>(firstUrl: string, repository: string | undefined, scopes: { actions?: Action[]; extraScopes?: string[] }, what: string, pick: (body: unknown) => T[]): Promise<T[]> {
    const items: T[] = [];
    let url: string | undefined = firstUrl;
    for (let page = 0; url && page < 10_000; page++) {
      const response = await this.send({ method: "GET", url, repository, ...scopes, what });
      if (response.status !== 200) throw await this.failure(response, what, repository);
      items.push(...pick(JSON.parse(Buffer.from(response.data as ArrayBuffer).toString("utf8"))));
      const next = nextPageFromLink(response.headers.link as string | undefined);
      url = next ? new URL(next, this.baseUrl).toString() : undefined;
    }
    return items;
  }

  /** Every repository in the registry (GET /v2/_catalog, following Link pages). */
  async listRepositories(pageSize = 100): Promise<string[]> {
    return this.listPages(`/v2/_catalog?n=${pageSize}`, undefined, { extraScopes: ["registry:catalog:*"] }, "the catalog", (body) => (body as { repositories?: string[] }).repositories ?? []);
  }

  /** Every tag of a repository (GET /v2/<name>/tags/list, following Link pages). */
  async listTags(repository: string, pageSize = 100): Promise<string[]> {
    return this.listPages(`/v2/${repository}/tags/list?n=${pageSize}`, repository, { actions: ["pull"] }, "the tag list", (body) => (body as { tags?: string[] | null }).tags ?? []);
  }
}

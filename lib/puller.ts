/**
 * The attendee's pull plan: every image of the venue's lock file, by digest, a few at a time. The
 * venue registries are the venue and its mirror laptops (mirrors.json), ranked for this machine so
 * attendees spread evenly and each keeps its mirror (lib/mirror-selection.ts). Each image is tried 3
 * times (with backoff) at each venue registry in that order, then falls back to its source
 * (Docker Hub) by the source digest. Images are tagged with their workshop name and their source name,
 * so `docker images | grep workshop` and unchanged compose files both find them. Nothing outside the
 * venue is contacted unless an image falls back.
 */
import axios from "axios";
import { formatBytes } from "./byte-size";
import { DockerEngine, PullProgressMessage } from "./docker-engine";
import { DOCKER_HUB, familiarImageName, formatImageReference, parseImageReference, parseRepositoryAndTag } from "./image-reference";
import { MIRROR_LIST_URL_PATH, MirrorList, parseMirrorListText } from "./mirror-list";
import { orderMirrorsForMachine } from "./mirror-selection";
import { normalizePlatformText } from "./platform";
import { LOCK_URL_PATH, LockedImage, LockedPlatform, validateLock, VenueLock } from "./venue-lock";

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_RETRY_DELAY_MS = 1_000;
export const DEFAULT_CONCURRENCY = 3;
/** How long a pull may go without a word from the engine while it needs the registry (see PullWatch). */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Lock file from the front door
// ---------------------------------------------------------------------------------------------

export class VenueUnreachableError extends Error {
  constructor(
    readonly registries: string[],
    readonly reasons: string[],
  ) {
    super(`Could not read the venue's image list from ${registries.map((r) => `http://${r}${LOCK_URL_PATH}`).join(" or ")}: ${reasons.join("; ")}`);
    this.name = "VenueUnreachableError";
  }
}

function describeHttpFailure(error: unknown): string {
  if (axios.isAxiosError(error)) {
    if (error.response) return `HTTP ${error.response.status}`;
    if (error.code === "ECONNREFUSED") return "connection refused (nothing listens there)";
    if (error.code === "ECONNABORTED" || error.code === "ETIMEDOUT") return "no answer in time";
    if (error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH") return "host unreachable (are you on the venue Wi-Fi?)";
    return error.code ?? error.message;
  }
  return (error as Error).message;
}

/** Reads /attendee/venue-lock.json from the first venue address that answers. */
export async function fetchVenueLock(registries: string[], timeoutMs = 10_000): Promise<{ lock: VenueLock; from: string }> {
  const reasons: string[] = [];
  for (const registry of registries) {
    const url = `http://${registry}${LOCK_URL_PATH}`;
    try {
      const response = await axios.get(url, { timeout: timeoutMs, responseType: "text", transformResponse: (x) => x, proxy: false });
      const data = JSON.parse(String(response.data)) as unknown;
      return { lock: validateLock(data, url), from: registry };
    } catch (error) {
      reasons.push(`${registry}: ${error instanceof SyntaxError ? "the answer is not JSON" : describeHttpFailure(error)}`);
    }
  }
  throw new VenueUnreachableError(registries, reasons);
}

// ---------------------------------------------------------------------------------------------
// Mirror laptops: which venue registries this machine pulls from, in which order
// ---------------------------------------------------------------------------------------------

export type MirrorListRead =
  | { kind: "found"; list: MirrorList; url: string }
  /** The venue answers but publishes no mirror list (404): it serves alone. */
  | { kind: "none"; url: string }
  /** The venue sent something that is not a usable mirror list. */
  | { kind: "invalid"; url: string; problem: string }
  /** Nothing usable came back (refused, timeout, 5xx): whether there are mirrors is unknown. */
  | { kind: "unreachable"; url: string; problem: string };

/** Reads /attendee/mirrors.json from the venue's front door; never throws. */
export async function fetchMirrorList(venue: string, timeoutMs = 5_000): Promise<MirrorListRead> {
  const url = `http://${venue}${MIRROR_LIST_URL_PATH}`;
  let text: string;
  try {
    const response = await axios.get(url, { timeout: timeoutMs, responseType: "text", transformResponse: (x) => x, proxy: false, validateStatus: () => true });
    if (response.status === 404) return { kind: "none", url };
    if (response.status !== 200) return { kind: "unreachable", url, problem: `HTTP ${response.status}` };
    text = String(response.data);
  } catch (error) {
    return { kind: "unreachable", url, problem: describeHttpFailure(error) };
  }
  try {
    return { kind: "found", list: parseMirrorListText(text, url), url };
  } catch (error) {
    return { kind: "invalid", url, problem: (error as Error).message };
  }
}

export type ServingSource = "mirror-list" | "registry-flags" | "venue-only";

export interface ServingOrder {
  /** Every venue registry this machine may pull from: its assigned one first, then the failover order. */
  registries: string[];
  /** The registry this machine pulls from while it answers. */
  assigned: string;
  /** mirror-list: the venue's mirrors.json; registry-flags: several --registry values; venue-only: neither. */
  source: ServingSource;
}

/**
 * The venue registries in this machine's order. Several given addresses (--registry a,b,c) are ranked
 * the same way rather than tried in the given order: everyone copies the same command from the
 * projector, and the given order would send them all to the first. One given address brings in the
 * venue's mirror list, where that address stands in for the list's primary (the same laptop, as this
 * attendee reaches it).
 */
export function orderServingRegistries(given: readonly string[], list: MirrorList | undefined, machineId: string): ServingOrder {
  if (given.length === 0) throw new Error("At least one venue registry is needed.");
  if (given.length > 1) {
    const registries = orderMirrorsForMachine(given, machineId);
    return { registries, assigned: registries[0], source: "registry-flags" };
  }
  if (list && list.mirrors.length > 0) {
    const registries = orderMirrorsForMachine([given[0], ...list.mirrors], machineId);
    if (registries.length > 1) return { registries, assigned: registries[0], source: "mirror-list" };
  }
  return { registries: [given[0]], assigned: given[0], source: "venue-only" };
}

/** Does the registry answer GET /v2/ (200 or 401)? Returns the failure reason, or undefined when it does. */
export async function probeRegistry(registry: string, timeoutMs = 5_000): Promise<string | undefined> {
  try {
    const response = await axios.get(`http://${registry}/v2/`, { timeout: timeoutMs, validateStatus: () => true, proxy: false });
    return response.status === 200 || response.status === 401 ? undefined : `GET /v2/ answered HTTP ${response.status}`;
  } catch (error) {
    return describeHttpFailure(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

export interface PlannedImage {
  image: LockedImage;
  platform: LockedPlatform;
  /** "workshop/postgres:15-alpine" */
  workshopName: string;
  /** "postgres:15-alpine", as compose files name it. */
  sourceName: string;
  /** Config plus layers for this platform. */
  bytes: number;
}

export interface PullPlan {
  platform: string;
  images: PlannedImage[];
  /** Images the venue does not hold for this platform. */
  unavailable: LockedImage[];
  /** Unique bytes for this platform (shared layers once), from the lock file. */
  totalBytes: number;
}

export function sourceNameOf(image: LockedImage): string {
  const reference = parseImageReference(image.source);
  return familiarImageName({ ...reference, digest: undefined });
}

export function planPull(lock: VenueLock, platform: string): PullPlan {
  const wanted = normalizePlatformText(platform);
  const images: PlannedImage[] = [];
  const unavailable: LockedImage[] = [];
  for (const image of lock.images) {
    const match = image.platforms.find((p) => normalizePlatformText(p.platform) === wanted);
    if (!match) {
      unavailable.push(image);
      continue;
    }
    images.push({ image, platform: match, workshopName: image.target, sourceName: sourceNameOf(image), bytes: match.bytes });
  }
  const unique = new Map<string, number>();
  for (const planned of images) for (const blob of planned.platform.blobs) unique.set(blob.digest, blob.size);
  const totalBytes = lock.totals[wanted] ?? [...unique.values()].reduce((a, b) => a + b, 0);
  return { platform: wanted, images, unavailable, totalBytes };
}

export function venueReference(registry: string, image: LockedImage): string {
  return `${registry}/${image.repository}@${image.indexDigest}`;
}

export function sourceReference(image: LockedImage): string {
  const reference = parseImageReference(image.source);
  return formatImageReference({ ...reference, tag: undefined, digest: image.sourceDigest });
}

// ---------------------------------------------------------------------------------------------
// Events and results
// ---------------------------------------------------------------------------------------------

export type PullOrigin = "venue" | "fallback";

export type PullEvent =
  | { type: "image-start"; index: number; image: string; reference: string; origin: PullOrigin; attempt: number; bytes: number }
  | { type: "image-progress"; index: number; image: string; doneBytes: number; totalBytes: number }
  | { type: "attempt-failed"; index: number; image: string; reference: string; attempt: number; error: string; retryInMs?: number }
  | { type: "registry-down"; registry: string; reason: string }
  /** The engine still holds a download this image needs, from a registry that went silent; the image waits for it. */
  | { type: "image-waiting"; index: number; image: string; waitMs: number }
  | { type: "image-fallback"; index: number; image: string; reason: string }
  | { type: "image-done"; index: number; result: PulledImage }
  | { type: "image-failed"; index: number; image: string; error: string };

export interface PulledImage {
  workshopName: string;
  sourceName: string;
  /** The reference that was pulled. */
  reference: string;
  origin: PullOrigin;
  /** Venue registry host:port, or the source's registry when fallen back. */
  registry: string;
  bytes: number;
  seconds: number;
  attempts: number;
  /** Why the venue was not used, when origin is "fallback". */
  fallbackReason?: string;
}

export interface FailedImage {
  workshopName: string;
  /** What happened. */
  error: string;
  /** What to do, when it is the same for several images (printed once). */
  advice?: string;
}

export interface PullSummary {
  platform: string;
  images: PulledImage[];
  failed: FailedImage[];
  totalBytes: number;
  seconds: number;
  megabytesPerSecond: number;
}

export interface PullOptions {
  engine: DockerEngine;
  /** Venue registries in order of preference; failover goes down the list. */
  registries: string[];
  concurrency?: number;
  /** false: never leave the venue (--no-fallback). */
  fallback?: boolean;
  attempts?: number;
  /** First retry delay; doubles per attempt. */
  retryDelayMs?: number;
  onEvent?: (event: PullEvent) => void;
  sleep?: (ms: number) => Promise<void>;
  /**
   * A venue registry that goes silent (a mirror laptop's lid closed, its Wi-Fi gone) leaves the
   * engine waiting on an open connection for minutes. A pull quiet this long while it needs the
   * registry is cancelled (the engine then drops its downloads), and the registry counts as down.
   */
  stallTimeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Per-layer progress
// ---------------------------------------------------------------------------------------------

/**
 * Turns the engine's per-layer messages into bytes done for one image. Layer ids in the stream are
 * the first 12 hex digits of the blob digest; the lock file gives every blob's size up front, so the
 * total is known before the first byte arrives.
 */
export class ImageProgress {
  private readonly sizes = new Map<string, number>();
  private readonly done = new Map<string, number>();
  readonly totalBytes: number;

  constructor(platform: LockedPlatform) {
    for (const blob of platform.blobs) this.sizes.set(blob.digest.slice("sha256:".length, "sha256:".length + 12), blob.size);
    this.totalBytes = platform.bytes;
  }

  /** Applies one message; returns true when the bytes done changed. */
  apply(message: PullProgressMessage): boolean {
    const id = message.id;
    if (!id || !this.sizes.has(id)) return false;
    const size = this.sizes.get(id)!;
    const before = this.done.get(id) ?? 0;
    let after = before;
    switch (message.status) {
      case "Downloading":
        after = Math.min(size, message.progressDetail?.current ?? before);
        break;
      case "Verifying Checksum":
      case "Download complete":
      case "Extracting":
      case "Pull complete":
      case "Already exists":
        after = size;
        break;
      default:
        return false;
    }
    if (after <= before) return false;
    this.done.set(id, after);
    return true;
  }

  get doneBytes(): number {
    let sum = 0;
    for (const value of this.done.values()) sum += value;
    return Math.min(sum, this.totalBytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Stalls
// ---------------------------------------------------------------------------------------------

/** Layer states in which the engine is waiting on the registry. */
const TRANSFER_STATES = new Set(["Pulling fs layer", "Downloading", "Verifying Checksum"]);
/** The engine's short layer ids: 12 hex digits. Other ids in the stream name the tag or digest. */
const LAYER_ID = /^[0-9a-f]{12}$/;

/**
 * Tells a pull that has stopped moving from one that is only waiting its turn. The engine downloads
 * a few layers at a time across all pulls, so a pull whose layers all wait for a slot is quiet while
 * the others move. A pull counts as stalled when it has been quiet for the limit and either needs the
 * registry (its manifest is not in yet, or a layer is in transfer) or nothing at all has moved.
 */
export class PullWatch {
  private lastMessageAt: number;
  private readonly layers = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {
    this.lastMessageAt = now();
  }

  saw(message: PullProgressMessage): void {
    this.lastMessageAt = this.now();
    if (message.id && message.status && LAYER_ID.test(message.id)) this.layers.set(message.id, message.status);
  }

  quietMs(): number {
    return this.now() - this.lastMessageAt;
  }

  /** Layers the engine is fetching from the registry right now. */
  layersInTransfer(): string[] {
    return [...this.layers].filter(([, state]) => TRANSFER_STATES.has(state)).map(([id]) => id);
  }

  /** `engineQuietMs`: how long since any pull of the same run heard from the engine. */
  isStalled(limitMs: number, engineQuietMs: number): boolean {
    if (this.quietMs() < limitMs) return false;
    if (engineQuietMs >= limitMs) return true;
    return this.layers.size === 0 || this.layersInTransfer().length > 0;
  }
}

function stallMessage(limitMs: number): string {
  return `no data for ${Math.round(limitMs / 1000)} s: the registry stopped answering mid-pull`;
}

/**
 * Whose fault a stall is. Cancelling a pull makes dockerd drop its downloads, except a layer whose
 * request has not had its answer yet: that request waits until its connection dies (minutes, when a
 * laptop vanished), and every later pull of that layer, from any registry, joins it (dockerd 20.10,
 * measured). So the layers in transfer when a pull stalled are remembered, and a later stall on
 * exactly those layers is the engine's, not the later registry's.
 */
function blamesRegistry(watch: PullWatch, stuckLayers: Set<string>): boolean {
  const inTransfer = watch.layersInTransfer();
  const blame = inTransfer.length === 0 || inTransfer.some((id) => !stuckLayers.has(id));
  for (const id of inTransfer) stuckLayers.add(id);
  return blame;
}

/** How long an image may wait for the engine to let go of a stuck download, in stall limits. */
const STUCK_WAIT_LIMITS = 5;

/** A wait as the attendee reads it: whole minutes, at least 1. */
export function waitMinutes(ms: number): number {
  return Math.max(1, Math.round(ms / 60_000));
}

// ---------------------------------------------------------------------------------------------
// Pulling
// ---------------------------------------------------------------------------------------------

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Errors about this image only; anything else (refused, reset, 5xx, timeouts) means the registry is in trouble. */
function isImageSpecific(error: string): boolean {
  return /manifest unknown|not found|unknown blob|does not exist|no matching manifest/i.test(error);
}

/** A registry's answer that it takes no more pulls from this network for now (HTTP 429, as dockerd words it). */
function isRateLimited(error: string): boolean {
  return /toomanyrequests|too many requests|pull rate limit/i.test(error);
}

/**
 * A source registry's pull limit: what happened, and what an attendee does about it. Retrying only
 * spends more of the limit, and at a venue everyone shares one public address, so it runs out for
 * all at once.
 */
export function rateLimitFailure(registry: string): { error: string; advice: string } {
  if (registry === DOCKER_HUB) {
    return {
      error: "Docker Hub turned the pull away: this network has used up its pull limit (HTTP 429), and everyone here shares it",
      advice:
        "Docker Hub's pull limit: ask the facilitator whether the venue registry is up, or sign in with docker login " +
        "(a free account gets a higher limit); then run the same command again: images already pulled stay.",
    };
  }
  return {
    error: `${registry} turned the pull away: too many pulls from this network (HTTP 429)`,
    advice: `${registry}'s pull limit: wait a while or sign in with docker login ${registry}, then run the same command again: images already pulled stay.`,
  };
}

function shorten(text: string, limit = 160): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > limit ? `${oneLine.slice(0, limit - 1)}…` : oneLine;
}

async function tagBoth(engine: DockerEngine, pulled: string, planned: PlannedImage): Promise<void> {
  const workshop = parseRepositoryAndTag(planned.workshopName);
  await engine.tagImage(pulled, workshop.repository, workshop.tag);
  const source = parseImageReference(planned.image.source);
  const sourceRepository = source.registry === DOCKER_HUB ? source.repository : `${source.registry}/${source.repository}`;
  await engine.tagImage(pulled, sourceRepository, source.tag ?? "latest");
}

/** How one try of one pull ended. */
type TryOutcome =
  | { kind: "pulled" }
  /** The engine or the registry said why. */
  | { kind: "failed"; message: string }
  /** The registry went silent mid-pull; it gets no more tries. */
  | { kind: "stalled"; message: string }
  /** The engine holds a layer download a silent registry never answered; the image waits. */
  | { kind: "held-by-engine" }
  /** Held for too long: only a Docker restart ends it. */
  | { kind: "engine-stuck"; message: string };

async function runPool<T>(items: T[], concurrency: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await worker(item);
    }
  });
  await Promise.all(runners);
}

/** Pulls every planned image; never throws for a single image, which is reported in `failed`. */
export async function pullImages(plan: PullPlan, options: PullOptions): Promise<PullSummary> {
  const engine = options.engine;
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const sleep = options.sleep ?? defaultSleep;
  const emit = options.onEvent ?? (() => undefined);
  const downRegistries = new Map<string, string>();
  const results: Array<PulledImage | undefined> = new Array(plan.images.length);
  const failed: FailedImage[] = [];
  const started = Date.now();
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  let engineHeardAt = Date.now();
  const stalled = stallMessage(stallTimeoutMs);
  const stuckWaitMs = STUCK_WAIT_LIMITS * stallTimeoutMs;
  const engineStuck =
    `Docker is still holding a download from a registry that stopped answering, after ${waitMinutes(stuckWaitMs)} min; ` +
    "restart Docker (that ends it) and run the same command again: images already pulled stay";
  const stuckLayers = new Set<string>();
  /** Source registries that answered 429: later images do not ask them again. */
  const rateLimitedSources = new Map<string, { error: string; advice: string }>();
  const markDown = (registry: string, reason: string) => {
    if (downRegistries.has(registry)) return;
    downRegistries.set(registry, reason);
    emit({ type: "registry-down", registry, reason });
  };

  const tryPull = async (
    index: number,
    planned: PlannedImage,
    reference: string,
    origin: PullOrigin,
    attempt: number,
  ): Promise<TryOutcome> => {
    emit({ type: "image-start", index, image: planned.workshopName, reference, origin, attempt, bytes: planned.bytes });
    const progress = new ImageProgress(planned.platform);
    const watch = new PullWatch();
    const cancel = new AbortController();
    let stoppedBecause: "stalled" | "held-by-engine" | undefined;
    // Cancelling the engine's pull makes it drop its downloads, so the next try starts afresh (but see blamesRegistry).
    const watchdog = setInterval(
      () => {
        if (!watch.isStalled(stallTimeoutMs, Date.now() - engineHeardAt)) return;
        clearInterval(watchdog);
        stoppedBecause = blamesRegistry(watch, stuckLayers) ? "stalled" : "held-by-engine";
        cancel.abort();
      },
      Math.max(50, Math.min(1_000, stallTimeoutMs / 5)),
    );
    try {
      await engine.pull(
        reference,
        (message) => {
          watch.saw(message);
          engineHeardAt = Date.now();
          if (progress.apply(message)) {
            emit({ type: "image-progress", index, image: planned.workshopName, doneBytes: progress.doneBytes, totalBytes: progress.totalBytes });
          }
        },
        undefined,
        cancel.signal,
      );
      return { kind: "pulled" };
    } catch (error) {
      if (stoppedBecause === "held-by-engine") return { kind: "held-by-engine" };
      if (stoppedBecause === "stalled") return { kind: "stalled", message: stalled };
      return { kind: "failed", message: shorten((error as Error).message.replace(/^pulling \S+ failed: /, "")) };
    } finally {
      clearInterval(watchdog);
    }
  };

  /**
   * tryPull, waiting while the engine holds a stuck download this image needs: each try joins that
   * download, so the pull is let go (nobody watching lets the engine end it as soon as its connection
   * dies) and tried again after a pause. Gives up as "engine-stuck" after `stuckWaitMs`.
   */
  const pullWaitingForEngine = async (
    index: number,
    planned: PlannedImage,
    reference: string,
    origin: PullOrigin,
    attempt: number,
  ): Promise<Exclude<TryOutcome, { kind: "held-by-engine" }>> => {
    const waitStarted = Date.now();
    let announced = false;
    for (;;) {
      const outcome = await tryPull(index, planned, reference, origin, attempt);
      if (outcome.kind !== "held-by-engine") return outcome;
      if (Date.now() - waitStarted >= stuckWaitMs) return { kind: "engine-stuck", message: engineStuck };
      if (!announced) {
        announced = true;
        emit({ type: "image-waiting", index, image: planned.workshopName, waitMs: stuckWaitMs });
      }
      await sleep(stallTimeoutMs);
    }
  };

  const pullOne = async (index: number): Promise<void> => {
    const planned = plan.images[index];
    const imageStarted = Date.now();
    let attemptsMade = 0;
    let lastError = "no venue registry was given";
    const finish = async (reference: string, origin: PullOrigin, registry: string, fallbackReason?: string) => {
      await tagBoth(engine, reference, planned);
      const result: PulledImage = {
        workshopName: planned.workshopName,
        sourceName: planned.sourceName,
        reference,
        origin,
        registry,
        bytes: planned.bytes,
        seconds: (Date.now() - imageStarted) / 1000,
        attempts: attemptsMade,
        fallbackReason,
      };
      results[index] = result;
      emit({ type: "image-progress", index, image: planned.workshopName, doneBytes: planned.bytes, totalBytes: planned.bytes });
      emit({ type: "image-done", index, result });
    };
    const giveUp = (error: string, advice?: string) => {
      failed.push({ workshopName: planned.workshopName, error, ...(advice === undefined ? {} : { advice }) });
      emit({ type: "image-failed", index, image: planned.workshopName, error });
    };

    for (const registry of options.registries) {
      if (downRegistries.has(registry)) {
        lastError = `${registry} stopped answering: ${downRegistries.get(registry)}`;
        continue;
      }
      const reference = venueReference(registry, planned.image);
      for (let attempt = 1; attempt <= attempts; attempt++) {
        attemptsMade++;
        const outcome = await pullWaitingForEngine(index, planned, reference, "venue", attempt);
        if (outcome.kind === "pulled") return finish(reference, "venue", registry);
        // Every other registry would join the same stuck download: only a Docker restart helps.
        if (outcome.kind === "engine-stuck") return giveUp(outcome.message);
        const error = outcome.message;
        lastError = `${registry}: ${error}`;
        // A registry that went silent gets no more attempts: each would wait out the whole limit again.
        const retryInMs = attempt < attempts && outcome.kind !== "stalled" ? retryDelayMs * 2 ** (attempt - 1) : undefined;
        emit({ type: "attempt-failed", index, image: planned.workshopName, reference, attempt, error, retryInMs });
        if (retryInMs === undefined) {
          if (!isImageSpecific(error)) markDown(registry, error);
          break;
        }
        // Another image may have found the registry down meanwhile; waiting would be pointless.
        if (downRegistries.has(registry)) break;
        await sleep(retryInMs);
      }
    }

    if (options.fallback === false) {
      failed.push({ workshopName: planned.workshopName, error: `${lastError} (fallback to ${planned.image.source} is off: --no-fallback)` });
      emit({ type: "image-failed", index, image: planned.workshopName, error: lastError });
      return;
    }
    const reason = lastError;
    emit({ type: "image-fallback", index, image: planned.workshopName, reason });
    const reference = sourceReference(planned.image);
    const sourceRegistry = parseImageReference(reference).registry;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const limit = rateLimitedSources.get(sourceRegistry);
      if (limit !== undefined) return giveUp(`venue: ${reason}; fallback: ${limit.error}`, limit.advice);
      attemptsMade++;
      const outcome = await pullWaitingForEngine(index, planned, reference, "fallback", attempt);
      if (outcome.kind === "pulled") return finish(reference, "fallback", sourceRegistry, reason);
      if (outcome.kind === "engine-stuck") return giveUp(outcome.message);
      const error = outcome.message;
      const limited = isRateLimited(error);
      if (limited) rateLimitedSources.set(sourceRegistry, rateLimitFailure(sourceRegistry));
      const retryInMs = attempt < attempts && !limited ? retryDelayMs * 2 ** (attempt - 1) : undefined;
      emit({ type: "attempt-failed", index, image: planned.workshopName, reference, attempt, error, retryInMs });
      lastError = `${reference}: ${error}`;
      if (retryInMs !== undefined) await sleep(retryInMs);
    }
    failed.push({ workshopName: planned.workshopName, error: `venue: ${reason}; fallback: ${lastError}` });
    emit({ type: "image-failed", index, image: planned.workshopName, error: lastError });
  };

  const indexes = plan.images.map((_, i) => i);
  await runPool(indexes, options.concurrency ?? DEFAULT_CONCURRENCY, async (index) => {
    try {
      await pullOne(index);
    } catch (error) {
      // Tagging or an engine failure outside the pull stream: report it against this image.
      const message = shorten((error as Error).message);
      failed.push({ workshopName: plan.images[index].workshopName, error: message });
      emit({ type: "image-failed", index, image: plan.images[index].workshopName, error: message });
    }
  });

  const images = results.filter((r): r is PulledImage => r !== undefined);
  const seconds = (Date.now() - started) / 1000;
  const totalBytes = images.reduce((sum, image) => sum + image.bytes, 0);
  return {
    platform: plan.platform,
    images,
    failed,
    totalBytes,
    seconds,
    megabytesPerSecond: seconds > 0 ? totalBytes / 1e6 / seconds : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

export type ImageCheck =
  | { workshopName: string; status: "ok"; digest: string }
  | { workshopName: string; status: "missing" }
  | { workshopName: string; status: "digest-mismatch"; found: string[]; expected: string[] };

/** Every planned image is present under its workshop name, and one of its digests is the lock's. */
export async function verifyImages(engine: DockerEngine, plan: PullPlan): Promise<ImageCheck[]> {
  const checks: ImageCheck[] = [];
  for (const planned of plan.images) {
    const inspect = await engine.inspectImage(planned.workshopName);
    if (!inspect) {
      checks.push({ workshopName: planned.workshopName, status: "missing" });
      continue;
    }
    const expected = [...new Set([planned.image.indexDigest, planned.image.sourceDigest])];
    const found = (inspect.RepoDigests ?? []).map((entry) => entry.slice(entry.indexOf("@") + 1));
    const match = found.find((digest) => expected.includes(digest));
    checks.push(match ? { workshopName: planned.workshopName, status: "ok", digest: match } : { workshopName: planned.workshopName, status: "digest-mismatch", found, expected });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/** The table printed at the end of a pull: image, from, size, time, then the overall rate. */
export function formatSummaryTable(summary: PullSummary): string {
  const rows = [
    ["IMAGE", "FROM", "SIZE", "TIME"],
    ...summary.images.map((image) => [
      image.workshopName,
      image.origin === "venue" ? `venue (${image.registry})` : `fallback (${image.registry})`,
      formatBytes(image.bytes),
      `${image.seconds.toFixed(1)} s`,
    ]),
    ...summary.failed.map((image) => [image.workshopName, "FAILED", "-", "-"]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) => row.map((cell, column) => (column >= 2 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join("  ").trimEnd());
  lines.push(
    `${summary.images.length} of ${summary.images.length + summary.failed.length} images, ${formatBytes(summary.totalBytes)} in ${summary.seconds.toFixed(1)} s: ${summary.megabytesPerSecond.toFixed(1)} MB/s overall`,
  );
  return lines.join("\n");
}

/** Says which images came from outside the venue and why; undefined when none did. */
export function fallbackNotice(summary: PullSummary): string | undefined {
  const fallen = summary.images.filter((image) => image.origin === "fallback");
  if (fallen.length === 0) return undefined;
  const lines = [`Notice: ${fallen.length} image${fallen.length === 1 ? "" : "s"} came from the internet instead of the venue:`];
  for (const image of fallen) lines.push(`  ${image.workshopName} from ${image.reference}, because ${image.fallbackReason}`);
  lines.push("They work the same; tell the facilitator so the venue can be checked.");
  return lines.join("\n");
}

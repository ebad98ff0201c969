/**
 * The front door's JSON access log (one object per line, fields in docs/architecture.md): followed
 * like `tail -F` (rotation and truncation included) and summed into what the dashboard shows: pulls
 * per image, bytes served, attendee machines, throughput.
 *
 * The log holds finished requests only; downloads in flight come from stub_status.
 */
import * as fs from "fs";
import type { VenueLock } from "./venue-lock";

export const REQUEST_KINDS = ["blob", "manifest", "tags", "catalog", "base", "other"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface AccessLogEntry {
  /** When the request finished, ms since the epoch. */
  timeMs: number;
  remoteAddr: string;
  method: string;
  uri: string;
  status: number;
  /** Whole response, headers included. */
  bytesSent: number;
  /** Response body only: the image data the client received. */
  bodyBytesSent: number;
  /** Seconds from the first byte read from the client to the last byte written. */
  requestTime: number;
  repository: string;
  kind: RequestKind;
  /** Digest or tag; empty when the request names none. */
  reference: string;
  upstream: string;
  range: string;
  userAgent: string;
  requestId: string;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** nginx writes numbers unquoted, but "-" appears for unset numeric variables. */
function count(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** One log line; null when it is not a venue access log entry (blank, cut short, another format). */
export function parseAccessLogLine(line: string): AccessLogEntry | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return null;
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    return null;
  }
  const timeMs = Date.parse(text(data.time));
  if (!Number.isFinite(timeMs) || typeof data.status !== "number") return null;
  const kind = text(data.kind);
  return {
    timeMs,
    remoteAddr: text(data.remote_addr),
    method: text(data.method),
    uri: text(data.uri),
    status: data.status,
    bytesSent: count(data.bytes_sent),
    bodyBytesSent: count(data.body_bytes_sent),
    requestTime: count(data.request_time),
    repository: text(data.repository),
    kind: (REQUEST_KINDS as readonly string[]).includes(kind) ? (kind as RequestKind) : "other",
    reference: text(data.reference),
    upstream: text(data.upstream),
    range: text(data.range),
    userAgent: text(data.user_agent),
    requestId: text(data.request_id),
  };
}

// ---------------------------------------------------------------------------------------------
// Following the file
// ---------------------------------------------------------------------------------------------

export type AccessLogFileState = "waiting-for-file" | "following" | "unreadable";

export interface AccessLogTailState {
  file: string;
  state: AccessLogFileState;
  /** Why the file cannot be read, when it cannot. */
  problem?: string;
  /** Byte offset read so far in the current file. */
  offset: number;
  rotations: number;
  truncations: number;
}

const CHUNK_BYTES = 1 << 20;
/** A line longer than this is not one of ours; it is dropped rather than held in memory. */
const MAX_LINE_BYTES = 1 << 20;

/**
 * Reads lines appended to a file, from its start. Polling, not fs.watch: the log sits on a volume
 * that another container writes, where change events are unreliable.
 *
 * - rotation (file renamed, a new one created): the old file is read to its end, then the new one
 *   from its start;
 * - truncation in place (copytruncate): reading restarts at the start;
 * - a line without its newline yet is held back until nginx finishes writing it.
 */
export class AccessLogTail {
  private descriptor: number | undefined;
  private inode: number | undefined;
  private offset = 0;
  private partial = "";
  private rotations = 0;
  private truncations = 0;
  private state: AccessLogFileState = "waiting-for-file";
  private problem: string | undefined;

  constructor(
    readonly file: string,
    private readonly onLine: (line: string) => void,
  ) {}

  get status(): AccessLogTailState {
    return {
      file: this.file,
      state: this.state,
      problem: this.problem,
      offset: this.offset,
      rotations: this.rotations,
      truncations: this.truncations,
    };
  }

  /** Reads everything appended since the last call; returns the number of bytes read. */
  poll(): number {
    let read = 0;
    let current: fs.Stats | undefined;
    try {
      current = fs.statSync(this.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") return this.fail(`cannot read ${this.file}: ${(error as Error).message}`);
    }
    if (this.descriptor !== undefined && current && current.ino !== this.inode) {
      // Rotated: finish the old file through the descriptor we hold, then switch.
      read += this.drain();
      this.closeFile();
      this.rotations += 1;
    }
    if (this.descriptor === undefined) {
      if (!current) {
        this.state = "waiting-for-file";
        this.problem = `${this.file} does not exist yet; nginx creates it on its first request`;
        return read;
      }
      try {
        this.descriptor = fs.openSync(this.file, "r");
      } catch (error) {
        return this.fail(`cannot open ${this.file}: ${(error as Error).message}`);
      }
      this.inode = fs.fstatSync(this.descriptor).ino;
      this.offset = 0;
      this.partial = "";
    }
    const size = fs.fstatSync(this.descriptor).size;
    if (size < this.offset) {
      this.truncations += 1;
      this.offset = 0;
      this.partial = "";
    }
    read += this.drain();
    this.state = "following";
    this.problem = undefined;
    return read;
  }

  close(): void {
    this.closeFile();
  }

  private fail(problem: string): number {
    this.state = "unreadable";
    this.problem = problem;
    return 0;
  }

  private closeFile(): void {
    if (this.descriptor !== undefined) fs.closeSync(this.descriptor);
    this.descriptor = undefined;
    this.inode = undefined;
  }

  private drain(): number {
    if (this.descriptor === undefined) return 0;
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let total = 0;
    for (;;) {
      const n = fs.readSync(this.descriptor, buffer, 0, buffer.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      total += n;
      this.consume(buffer.subarray(0, n));
    }
    return total;
  }

  private consume(chunk: Buffer): void {
    // nginx escapes non-ASCII in JSON logs (escape=json), so a chunk boundary never splits a
    // character that matters; latin1 keeps every byte either way.
    const lines = (this.partial + chunk.toString("latin1")).split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > MAX_LINE_BYTES) this.partial = "";
    for (const line of lines) if (line.length > 0) this.onLine(line);
  }
}

// ---------------------------------------------------------------------------------------------
// Adding it up
// ---------------------------------------------------------------------------------------------

export const RECENT_CLIENT_WINDOW_MS = 5 * 60_000;
export const THROUGHPUT_WINDOW_SECONDS = 15;
/** Per-second byte counts older than this are dropped; the peak covers this span. */
const THROUGHPUT_HISTORY_SECONDS = 24 * 3600;
/** Guards memory against a flood of made-up repository names or references. */
const MAX_MANIFEST_KEYS = 50_000;
const MAX_CLIENTS = 100_000;

export interface ImagePulls {
  /** Venue name from the lock, "workshop/postgres:15-alpine". */
  target: string;
  repository: string;
  pulls: number;
}

export interface AccessLogSummary {
  /** Every parsed line, dashboard and health checks included. */
  requests: number;
  unparsableLines: number;
  /** Response bodies of manifests, blobs, tag lists and attendee files: what attendee machines received. */
  bytesServed: number;
  /** Response bodies of blob requests (layers and configs). */
  blobBytesServed: number;
  /** Responses with a 5xx status: the front door or a replica failed the client. */
  serverErrors: number;
  /** Addresses that fetched a manifest, a blob, a tag list or the attendee files. */
  distinctClients: number;
  /** Of those, the ones seen within the last five minutes. */
  recentClients: number;
  /** bytesServed per second over the last THROUGHPUT_WINDOW_SECONDS, by finished requests. */
  throughputBytesPerSecond: number;
  /** The highest throughput over any such window in the log's last day. */
  peakThroughputBytesPerSecond: number;
  /** One entry per lock image, in lock order. */
  pullsByImage: ImagePulls[];
  /** Pulls of manifests the lock does not name, by "repository:reference". */
  otherPulls: Record<string, number>;
  /** Platform manifests fetched, by platform: the attendees' platform mix. */
  pullsByPlatform: Record<string, number>;
  /** When the newest line was written, ISO 8601; null before any. */
  lastRequestAt: string | null;
}

/** Image data (manifests, blobs, tag lists) and the attendee files: what attendee machines fetch. */
export function isAttendeeDownload(entry: AccessLogEntry): boolean {
  return entry.kind === "manifest" || entry.kind === "blob" || entry.kind === "tags" || entry.uri.startsWith("/attendee/");
}

/**
 * Sums access log entries. A pull is one successful GET of an image's top manifest (its index, or
 * its single manifest), by tag or by digest: Docker fetches that once per pull, whatever else it
 * asks for (a HEAD first, the platform manifest after).
 */
export class AccessLogStats {
  private requests = 0;
  private unparsable = 0;
  private bytesServed = 0;
  private blobBytesServed = 0;
  private serverErrors = 0;
  private lastRequestMs: number | null = null;
  /** repository -> reference -> successful manifest GETs */
  private readonly manifestGets = new Map<string, Map<string, number>>();
  private manifestKeys = 0;
  private droppedManifestGets = 0;
  /** address -> when last seen (log time, ms) */
  private readonly clients = new Map<string, number>();
  /** epoch second -> bytes delivered in that second */
  private readonly bytesBySecond = new Map<number, number>();

  addLine(line: string): void {
    const entry = parseAccessLogLine(line);
    if (entry) this.add(entry);
    else this.unparsable += 1;
  }

  add(entry: AccessLogEntry): void {
    this.requests += 1;
    if (entry.status >= 500) this.serverErrors += 1;
    if (this.lastRequestMs === null || entry.timeMs > this.lastRequestMs) this.lastRequestMs = entry.timeMs;
    // Only what attendees come for counts: dashboards, health probes and API pings would blur it.
    if (!isAttendeeDownload(entry)) return;
    this.bytesServed += entry.bodyBytesSent;
    if (entry.kind === "blob") this.blobBytesServed += entry.bodyBytesSent;
    const succeeded = entry.status >= 200 && entry.status < 300;
    if (succeeded && entry.method === "GET" && entry.kind === "manifest" && entry.repository && entry.reference) {
      this.countManifestGet(entry.repository, entry.reference);
    }
    this.seeClient(entry.remoteAddr, entry.timeMs);
    if (entry.bodyBytesSent > 0) this.spreadBytes(entry);
  }

  countUnparsable(): void {
    this.unparsable += 1;
  }

  summary(lock: VenueLock | undefined, nowMs = Date.now()): AccessLogSummary {
    const pulls = this.pulls(lock);
    const recentSince = nowMs - RECENT_CLIENT_WINDOW_MS;
    let recentClients = 0;
    for (const lastSeen of this.clients.values()) if (lastSeen >= recentSince) recentClients += 1;
    this.pruneThroughput(nowMs);
    return {
      requests: this.requests,
      unparsableLines: this.unparsable,
      bytesServed: this.bytesServed,
      blobBytesServed: this.blobBytesServed,
      serverErrors: this.serverErrors,
      distinctClients: this.clients.size,
      recentClients,
      throughputBytesPerSecond: this.throughputEndingAt(Math.floor(nowMs / 1000)),
      peakThroughputBytesPerSecond: this.peakThroughput(),
      ...pulls,
      lastRequestAt: this.lastRequestMs === null ? null : new Date(this.lastRequestMs).toISOString(),
    };
  }

  private countManifestGet(repository: string, reference: string): void {
    let references = this.manifestGets.get(repository);
    if (!references) {
      if (this.manifestKeys >= MAX_MANIFEST_KEYS) return void (this.droppedManifestGets += 1);
      references = new Map();
      this.manifestGets.set(repository, references);
    }
    const previous = references.get(reference);
    if (previous === undefined) {
      if (this.manifestKeys >= MAX_MANIFEST_KEYS) return void (this.droppedManifestGets += 1);
      this.manifestKeys += 1;
    }
    references.set(reference, (previous ?? 0) + 1);
  }

  private seeClient(address: string, timeMs: number): void {
    if (!address) return;
    const previous = this.clients.get(address);
    if (previous === undefined && this.clients.size >= MAX_CLIENTS) return;
    if (previous === undefined || timeMs > previous) this.clients.set(address, timeMs);
  }

  /**
   * A request's body bytes are spread evenly over the seconds it took, so a layer that took 40 s
   * counts 40 s of throughput rather than one spike when its log line appears.
   */
  private spreadBytes(entry: AccessLogEntry): void {
    const end = Math.floor(entry.timeMs / 1000);
    const seconds = Math.min(THROUGHPUT_HISTORY_SECONDS, Math.max(1, Math.ceil(entry.requestTime)));
    const share = entry.bodyBytesSent / seconds;
    for (let second = end - seconds + 1; second <= end; second++) {
      this.bytesBySecond.set(second, (this.bytesBySecond.get(second) ?? 0) + share);
    }
  }

  private throughputEndingAt(endSecond: number): number {
    let bytes = 0;
    for (let second = endSecond - THROUGHPUT_WINDOW_SECONDS + 1; second <= endSecond; second++) {
      bytes += this.bytesBySecond.get(second) ?? 0;
    }
    return bytes / THROUGHPUT_WINDOW_SECONDS;
  }

  private peakThroughput(): number {
    const seconds = [...this.bytesBySecond.keys()].sort((a, b) => a - b);
    if (seconds.length === 0) return 0;
    // Sliding sum over consecutive seconds, gaps counting as zero.
    let peak = 0;
    let windowSum = 0;
    let tail = 0;
    for (const second of seconds) {
      windowSum += this.bytesBySecond.get(second)!;
      while (seconds[tail] <= second - THROUGHPUT_WINDOW_SECONDS) {
        windowSum -= this.bytesBySecond.get(seconds[tail])!;
        tail += 1;
      }
      peak = Math.max(peak, windowSum);
    }
    return peak / THROUGHPUT_WINDOW_SECONDS;
  }

  private pruneThroughput(nowMs: number): void {
    const oldest = Math.floor(nowMs / 1000) - THROUGHPUT_HISTORY_SECONDS;
    for (const second of this.bytesBySecond.keys()) if (second < oldest) this.bytesBySecond.delete(second);
  }

  private pulls(lock: VenueLock | undefined): Pick<AccessLogSummary, "pullsByImage" | "otherPulls" | "pullsByPlatform"> {
    const images = lock?.images ?? [];
    const pullsByImage: ImagePulls[] = images.map((i) => ({ target: i.target, repository: i.repository, pulls: 0 }));
    const pullsByPlatform: Record<string, number> = {};
    const otherPulls: Record<string, number> = {};
    for (const [repository, references] of this.manifestGets) {
      const candidates = images.map((image, index) => ({ image, index })).filter((c) => c.image.repository === repository);
      for (const [reference, gets] of references) {
        let known = false;
        for (const { image, index } of candidates) {
          const top = reference === image.tag || reference === image.indexDigest;
          if (top) pullsByImage[index].pulls += gets;
          // A single-manifest image's top manifest is also its platform manifest.
          const platform = image.platforms.find((p) => p.digest === reference || (top && p.digest === image.indexDigest));
          if (platform) pullsByPlatform[platform.platform] = (pullsByPlatform[platform.platform] ?? 0) + gets;
          known ||= top || platform !== undefined;
        }
        // Platform manifests by digest are part of a pull counted already; only tags name new pulls.
        if (!known && !reference.startsWith("sha256:")) {
          const key = `${repository}:${reference}`;
          otherPulls[key] = (otherPulls[key] ?? 0) + gets;
        }
      }
    }
    return { pullsByImage, otherPulls, pullsByPlatform };
  }
}

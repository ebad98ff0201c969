/**
 * The monitor: the venue's dashboard service. It adds up the front door's access log, asks nginx's
 * stub_status how many downloads are in flight, asks every replica whether it answers and whether
 * each locked image is there, asks every mirror laptop's front door for its health and throughput
 * (the capacity planner counts the healthy ones), and serves the result as a live page (`/`,
 * updated over server-sent events at `/events`), projector slides (`/slides`, and one at a time at
 * `/slides/1` to `/slides/3`), the attendee guides for reading without internet (`/guides/`), JSON
 * (`/api/status`) and `/healthz`.
 *
 * The stack runs it in a container behind the front door; the tests run the very same code.
 */
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import { AccessLogStats, AccessLogTail, RECENT_CLIENT_WINDOW_MS, THROUGHPUT_WINDOW_SECONDS } from "./access-log";
import { bytesPerAttendee, CapacityPlan, planCapacity, platformMix } from "./capacity-planner";
import { DASHBOARD_CSS, DASHBOARD_SCRIPT, renderDashboardPage, renderDashboardSections, renderSingleSlidePage, renderSlidesPage, SLIDE_COUNT, SLIDES_SCRIPT } from "./dashboard-page";
import { GUIDES_URL_PATH } from "./attendee-guides";
import { Guide, readGuides, renderGuideIndex, renderGuidePage } from "./guide-page";
import { activeDownloads, describeFetchError, fetchStubStatus, StubStatus } from "./stub-status";
import { LOCK_URL_PATH, readLock, VenueLock } from "./venue-lock";

export const DEFAULT_ATTENDEE_COMMAND = "npx -y http://{venue}/attendee/workshop-attendee.tgz";
export const DEFAULT_EXPECTED_ATTENDEES = 700;
export const DEFAULT_TARGET_MINUTES = 30;

export interface MonitorOptions {
  /** Where the service listens, "host:port" ("0.0.0.0:8080" in the container; port 0 picks one). */
  listen: string;
  /** The venue lock file (venue-lock.json). */
  lockFile: string;
  /** The front door's JSON access log. */
  accessLogFile: string;
  /** nginx stub_status, e.g. "http://venue-frontdoor:8081/stub_status"; without it, active downloads are unknown. */
  stubStatusUrl?: string;
  /** Each read replica's base URL, "http://venue-replica-1:5000". */
  replicaUrls: string[];
  /** The front door's base URL as the monitor reaches it; its /healthz is probed. */
  frontDoorUrl?: string;
  /** What attendees type: "192.168.1.20:5000", one per network the laptop is on. */
  lanAddresses: string[];
  /**
   * The one or two commands attendees run. "{venue}" becomes each LAN address; a command without
   * it that names the first LAN address gets the other addresses swapped in.
   */
  attendeeCommands?: string[];
  /** The capacity planner's starting number of attendees. */
  expectedAttendees?: number;
  /** The capacity planner's starting target, in minutes. */
  targetMinutes?: number;
  /** Shown on the dashboard and the slide. */
  title?: string;
  /** How often figures are refreshed and pushed to open pages. */
  refreshIntervalMs?: number;
  /** How often every locked image is checked in the registry (one HEAD each). */
  imageCheckIntervalMs?: number;
  /** How long a replica, the front door or stub_status may take to answer a probe. */
  probeTimeoutMs?: number;
  /** The mirror laptops, "host:port" of each one's front door, as mirrors.json lists them. */
  mirrors?: string[];
  /** How long a mirror laptop may take to answer; shorter than local probes, since it is across the LAN. */
  mirrorTimeoutMs?: number;
  /** The attendee guides served at /guides/ (lib/guide-page.ts); the project's docs/attendee by default. */
  guidesDirectory?: string;
}

/** A mirror laptop as its own front door reports it: /healthz for health, /api/status for its figures. */
export interface MirrorStatus {
  /** "host:port", as attendees reach it. */
  address: string;
  /** Its front door's /healthz answered 200: nginx runs and one of its replicas answers. */
  healthy: boolean;
  /** Why it is not healthy, or why its figures are unknown; null when all is well. */
  problem: string | null;
  /** Bytes per second its front door sends now; null when its /api/status cannot be read. */
  throughputBytesPerSecond: number | null;
  /** Downloads in flight at its front door; null when unknown. */
  activeDownloads: number | null;
}

export interface EndpointHealth {
  name: string;
  url: string;
  healthy: boolean;
  /** HTTP status of the probe; null when nothing answered. */
  httpStatus: number | null;
  latencyMs: number | null;
  problem: string | null;
}

export interface ImageStatus {
  target: string;
  repository: string;
  tag: string;
  indexDigest: string;
  /** null until checked, or while no replica answers. */
  available: boolean | null;
  pulls: number;
}

export interface VenueAddress {
  address: string;
  url: string;
  commands: string[];
}

export interface Problem {
  what: string;
  action: string;
}

export interface MonitorStatus {
  generatedAt: string;
  title: string;
  venue: { addresses: VenueAddress[]; lockUrl: string | null };
  images: {
    expected: number;
    /** Images whose top manifest a replica holds. */
    available: number;
    missing: string[];
    checkedAt: string | null;
    list: ImageStatus[];
    /** Pulls by tag of images the lock does not name. */
    otherPulls: Record<string, number>;
  };
  downloads: {
    /** Requests in flight at the front door; null when stub_status cannot be read. */
    active: number | null;
    connections: StubStatus | null;
    problem: string | null;
  };
  clients: { distinct: number; recent: number; recentWindowMinutes: number };
  traffic: {
    requests: number;
    bytesServed: number;
    blobBytesServed: number;
    throughputBytesPerSecond: number;
    peakThroughputBytesPerSecond: number;
    windowSeconds: number;
    serverErrors: number;
    lastRequestAt: string | null;
  };
  health: { frontDoor: EndpointHealth | null; replicas: EndpointHealth[] };
  /** The mirror laptops, in the order they were configured. */
  mirrors: MirrorStatus[];
  capacity: {
    expectedAttendees: number;
    targetMinutes: number;
    bytesPerPlatform: Record<string, number>;
    platformMix: Record<string, number>;
    /** True when the mix comes from platform manifests pulled, false when it is assumed. */
    mixMeasured: boolean;
    pullsByPlatform: Record<string, number>;
    bytesPerAttendee: number;
    /** The throughput the plan uses: the peak seen, since a quiet moment says nothing of capacity. */
    throughputBytesPerSecond: number;
    /** This laptop plus the mirror laptops that answer now. */
    servingLaptops: number;
    plan: CapacityPlan;
  };
  lock: { file: string; loaded: boolean; generatedAt: string | null; problem: string | null };
  accessLog: { file: string; state: string; problem: string | null; unparsableLines: number; rotations: number; truncations: number };
  /** Everything that needs the facilitator, each with what to do. */
  problems: Problem[];
}

export interface RunningMonitor {
  /** Base URL the service answers on, "http://127.0.0.1:PORT". */
  url: string;
  /** The latest figures. */
  status(): MonitorStatus;
  /** Gathers fresh figures now (tests and the first page view use it). */
  refresh(): Promise<MonitorStatus>;
  close(): Promise<void>;
}

/** Between the two stub_status samples of one refresh. */
const CONNECTION_SAMPLE_GAP_MS = 100;

const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!match) throw new Error(`listen address "${listen}" must be host:port, e.g. 0.0.0.0:8080`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`listen address "${listen}": port ${port} is over 65535`);
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/** "http://192.168.1.20:5000/" and "192.168.1.20:5000" both become "192.168.1.20:5000". */
export function normalizeLanAddress(address: string): string {
  return address.trim().replace(/^https?:\/\//i, "").replace(/\/+$/, "");
}

export function attendeeCommandsFor(address: string, templates: string[], firstAddress: string): string[] {
  return templates.map((template) => {
    if (template.includes("{venue}")) return template.split("{venue}").join(address);
    return firstAddress ? template.split(firstAddress).join(address) : template;
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** GET base + probePath; the health names the base URL, which is what a person recognises. */
async function probe(name: string, base: string, probePath: string, timeoutMs: number, healthyStatuses: number[]): Promise<EndpointHealth> {
  const url = base.replace(/\/+$/, "");
  const started = Date.now();
  try {
    const response = await fetch(`${url}${probePath}`, { signal: AbortSignal.timeout(timeoutMs), headers: { Connection: "close" } });
    await response.arrayBuffer();
    const healthy = healthyStatuses.includes(response.status);
    return {
      name,
      url,
      healthy,
      httpStatus: response.status,
      latencyMs: Date.now() - started,
      problem: healthy ? null : `answered HTTP ${response.status}`,
    };
  } catch (error) {
    return { name, url, healthy: false, httpStatus: null, latencyMs: null, problem: describeFetchError(error) };
  }
}

/** Default for `mirrorTimeoutMs`: a mirror that takes longer than this to say it is alive is in trouble. */
export const DEFAULT_MIRROR_TIMEOUT_MS = 1_500;

function finiteOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

/** A mirror's figures from its own monitor, through its front door's /api/status. */
async function fetchMirrorFigures(base: string, timeoutMs: number): Promise<{ throughput: number | null; active: number | null; problem: string | null }> {
  try {
    const response = await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(timeoutMs), headers: { Connection: "close", Accept: "application/json" } });
    const text = await response.text();
    if (response.status !== 200) return { throughput: null, active: null, problem: `its /api/status answered HTTP ${response.status}` };
    const figures = JSON.parse(text) as { traffic?: { throughputBytesPerSecond?: unknown }; downloads?: { active?: unknown } };
    return { throughput: finiteOrNull(figures.traffic?.throughputBytesPerSecond), active: finiteOrNull(figures.downloads?.active), problem: null };
  } catch (error) {
    return { throughput: null, active: null, problem: `its /api/status ${error instanceof SyntaxError ? "is not JSON" : `did not answer: ${describeFetchError(error)}`}` };
  }
}

/**
 * One mirror laptop: healthy when its front door's /healthz answers 200; throughput and downloads
 * from its own monitor. Both requests go out at once, each bounded by `timeoutMs`; never throws.
 */
export async function probeMirror(address: string, timeoutMs: number = DEFAULT_MIRROR_TIMEOUT_MS): Promise<MirrorStatus> {
  const base = `http://${address}`;
  const [health, figures] = await Promise.all([probe(address, base, "/healthz", timeoutMs, [200]), fetchMirrorFigures(base, timeoutMs)]);
  return {
    address,
    healthy: health.healthy,
    // A mirror that is down has no figures either: its own reason is the one worth reading.
    problem: health.healthy ? figures.problem : health.problem,
    throughputBytesPerSecond: figures.throughput,
    activeDownloads: figures.active,
  };
}

class Monitor {
  private readonly stats = new AccessLogStats();
  private readonly tail: AccessLogTail;
  private readonly addresses: VenueAddress[];
  /** Read once at start: the guides are the project's own files, and change only with a new version. */
  private readonly guides: Guide[];
  private lock: VenueLock | undefined;
  private lockMtimeMs = -1;
  private lockProblem: string | null = null;
  private availability = new Map<string, boolean | null>();
  private imagesCheckedAt: number | null = null;
  private imagesCheckedForLock: string | null = null;
  private latest: MonitorStatus;
  private readonly streams = new Set<http.ServerResponse>();
  private proxiedStreams = 0;
  private refreshing: Promise<MonitorStatus> | undefined;
  private mirrors: MirrorStatus[];

  constructor(private readonly options: MonitorOptions) {
    this.mirrors = (options.mirrors ?? []).map((address) => ({
      address: normalizeLanAddress(address),
      healthy: false,
      problem: "not measured yet",
      throughputBytesPerSecond: null,
      activeDownloads: null,
    }));
    this.tail = new AccessLogTail(options.accessLogFile, (line) => this.stats.addLine(line));
    const lan = options.lanAddresses.map(normalizeLanAddress).filter(Boolean);
    const templates = options.attendeeCommands?.length ? options.attendeeCommands : [DEFAULT_ATTENDEE_COMMAND];
    this.addresses = lan.map((address) => ({
      address,
      url: `http://${address}`,
      commands: attendeeCommandsFor(address, templates, lan[0]),
    }));
    this.guides = readGuides(options.guidesDirectory);
    this.latest = this.assemble(null, null, null, []);
  }

  status(): MonitorStatus {
    return this.latest;
  }

  /** One refresh at a time; callers arriving meanwhile share it. */
  refresh(): Promise<MonitorStatus> {
    this.refreshing ??= this.gather().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async gather(): Promise<MonitorStatus> {
    const timeout = this.options.probeTimeoutMs ?? 2_000;
    this.tail.poll();
    this.reloadLock();
    const stubUrl = this.options.stubStatusUrl;
    // Counted before the stub_status request goes out, so a dashboard that closes meanwhile is
    // not subtracted from downloads that are real.
    const longRequests = this.proxiedStreams;
    // stub_status first and alone: the front door probe below is itself a request in flight.
    const stub = stubUrl
      ? await this.sampleConnections(stubUrl, timeout).then(
          (value) => ({ value, problem: null }),
          (error: unknown) => ({ value: null, problem: errorMessage(error) }),
        )
      : { value: null, problem: "no stub_status URL configured (--stub-status-url)" };
    const [frontDoor, replicas, mirrors] = await Promise.all([
      this.options.frontDoorUrl
        ? probe("front door", this.options.frontDoorUrl, "/healthz", timeout, [200])
        : Promise.resolve(null),
      Promise.all(
        this.options.replicaUrls.map((url, i) => probe(`replica ${i + 1}`, url, "/v2/", timeout, [200, 401])),
      ),
      Promise.all(this.mirrors.map((m) => probeMirror(m.address, this.options.mirrorTimeoutMs ?? DEFAULT_MIRROR_TIMEOUT_MS))),
    ]);
    this.mirrors = mirrors;
    await this.checkImagesIfDue(replicas, timeout);
    const active = stub.value ? activeDownloads(stub.value, 1, Math.min(longRequests, this.proxiedStreams)) : null;
    this.latest = this.assemble({ active, connections: stub.value, problem: stub.problem }, frontDoor, replicas, []);
    this.broadcast();
    return this.latest;
  }

  /**
   * Two samples a moment apart, keeping the one with fewer connections being written: a page load or
   * an /api/status poll that happens to be in flight during one sample is not a download, while a
   * download worth showing lasts through both.
   */
  private async sampleConnections(url: string, timeoutMs: number): Promise<StubStatus> {
    const first = await fetchStubStatus(url, timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, CONNECTION_SAMPLE_GAP_MS));
    const second = await fetchStubStatus(url, timeoutMs);
    return second.writing <= first.writing ? second : first;
  }

  private reloadLock(): void {
    const file = this.options.lockFile;
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch {
      this.lock = undefined;
      this.lockMtimeMs = -1;
      this.lockProblem = `The lock file ${file} does not exist yet.`;
      return;
    }
    if (mtimeMs === this.lockMtimeMs) return;
    try {
      this.lock = readLock(file);
      this.lockProblem = null;
    } catch (error) {
      this.lock = undefined;
      this.lockProblem = errorMessage(error);
    }
    this.lockMtimeMs = mtimeMs;
  }

  private async checkImagesIfDue(replicas: EndpointHealth[], timeoutMs: number): Promise<void> {
    const lock = this.lock;
    if (!lock) return;
    const interval = this.options.imageCheckIntervalMs ?? 30_000;
    const lockKey = lock.generatedAt + lock.images.map((i) => i.indexDigest).join();
    const due = this.imagesCheckedForLock !== lockKey || this.imagesCheckedAt === null || Date.now() - this.imagesCheckedAt >= interval;
    const answering = replicas.filter((r) => r.healthy).map((r) => r.url);
    if (!due || answering.length === 0) return;
    const results = new Map<string, boolean | null>();
    const queue = [...lock.images];
    const worker = async (): Promise<void> => {
      for (let image = queue.shift(); image; image = queue.shift()) {
        results.set(image.target, await this.imageAvailable(answering, image.repository, image.indexDigest, timeoutMs));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
    this.availability = results;
    this.imagesCheckedAt = Date.now();
    this.imagesCheckedForLock = lockKey;
  }

  /** HEAD of the top manifest by digest, straight at a replica so the check is not logged as a pull. */
  private async imageAvailable(replicas: string[], repository: string, digest: string, timeoutMs: number): Promise<boolean | null> {
    for (const replica of replicas) {
      try {
        const response = await fetch(`${replica}/v2/${repository}/manifests/${digest}`, {
          method: "HEAD",
          headers: { Accept: MANIFEST_ACCEPT },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (response.status === 200) return true;
        if (response.status === 404) return false;
      } catch {
        // Try the next replica.
      }
    }
    return null;
  }

  private assemble(
    downloads: MonitorStatus["downloads"] | null,
    frontDoor: EndpointHealth | null,
    replicas: EndpointHealth[] | null,
    extraProblems: Problem[],
  ): MonitorStatus {
    const lock = this.lock;
    const summary = this.stats.summary(lock);
    const tail = this.tail.status;
    const list: ImageStatus[] = (lock?.images ?? []).map((image, i) => ({
      target: image.target,
      repository: image.repository,
      tag: image.tag,
      indexDigest: image.indexDigest,
      available: this.availability.get(image.target) ?? null,
      pulls: summary.pullsByImage[i]?.pulls ?? 0,
    }));
    const bytesPerPlatform = lock?.totals ?? {};
    const lockPlatforms = Object.keys(bytesPerPlatform);
    const mixMeasured = lockPlatforms.some((p) => (summary.pullsByPlatform[p] ?? 0) > 0);
    const mix = platformMix(lockPlatforms, summary.pullsByPlatform);
    const perAttendee = lockPlatforms.length > 0 ? bytesPerAttendee(bytesPerPlatform, mix) : 0;
    const expectedAttendees = this.options.expectedAttendees ?? DEFAULT_EXPECTED_ATTENDEES;
    const targetMinutes = this.options.targetMinutes ?? DEFAULT_TARGET_MINUTES;
    const throughput = summary.peakThroughputBytesPerSecond;
    const servingLaptops = 1 + this.mirrors.filter((m) => m.healthy).length;
    const status: MonitorStatus = {
      generatedAt: new Date().toISOString(),
      title: this.options.title ?? "Workshop venue registry",
      venue: { addresses: this.addresses, lockUrl: this.addresses[0] ? `${this.addresses[0].url}${LOCK_URL_PATH}` : null },
      images: {
        expected: list.length,
        available: list.filter((i) => i.available === true).length,
        missing: list.filter((i) => i.available === false).map((i) => i.target),
        checkedAt: this.imagesCheckedAt === null ? null : new Date(this.imagesCheckedAt).toISOString(),
        list,
        otherPulls: summary.otherPulls,
      },
      downloads: downloads ?? { active: null, connections: null, problem: "not measured yet" },
      clients: { distinct: summary.distinctClients, recent: summary.recentClients, recentWindowMinutes: RECENT_CLIENT_WINDOW_MS / 60_000 },
      traffic: {
        requests: summary.requests,
        bytesServed: summary.bytesServed,
        blobBytesServed: summary.blobBytesServed,
        throughputBytesPerSecond: summary.throughputBytesPerSecond,
        peakThroughputBytesPerSecond: summary.peakThroughputBytesPerSecond,
        windowSeconds: THROUGHPUT_WINDOW_SECONDS,
        serverErrors: summary.serverErrors,
        lastRequestAt: summary.lastRequestAt,
      },
      health: { frontDoor, replicas: replicas ?? [] },
      mirrors: this.mirrors,
      capacity: {
        expectedAttendees,
        targetMinutes,
        bytesPerPlatform,
        platformMix: mix,
        mixMeasured,
        pullsByPlatform: summary.pullsByPlatform,
        bytesPerAttendee: perAttendee,
        throughputBytesPerSecond: throughput,
        servingLaptops,
        plan: planCapacity({ attendees: expectedAttendees, bytesPerAttendee: perAttendee, throughputBytesPerSecond: throughput, targetMinutes, servingLaptops }),
      },
      lock: { file: this.options.lockFile, loaded: lock !== undefined, generatedAt: lock?.generatedAt ?? null, problem: this.lockProblem },
      accessLog: {
        file: tail.file,
        state: tail.state,
        problem: tail.problem ?? null,
        unparsableLines: summary.unparsableLines,
        rotations: tail.rotations,
        truncations: tail.truncations,
      },
      problems: [],
    };
    status.problems = [...this.problemsOf(status, replicas !== null), ...extraProblems];
    return status;
  }

  private problemsOf(status: MonitorStatus, measured: boolean): Problem[] {
    const problems: Problem[] = [];
    if (!measured) return problems;
    if (status.venue.addresses.length === 0) {
      problems.push({
        what: "No LAN address is known, so attendees have nothing to type.",
        action: "Connect this laptop to the venue network, then run `pulumi up` again (or pass --lan-address to `venue monitor`).",
      });
    }
    if (status.lock.problem) {
      problems.push({
        what: status.lock.problem,
        action: "The stack writes it after mirroring (`venue verify`). Run `pulumi up` and watch for mirror errors.",
      });
    }
    const frontDoor = status.health.frontDoor;
    if (frontDoor && !frontDoor.healthy) {
      problems.push({
        what: `The front door (${frontDoor.url}) is not answering: ${frontDoor.problem}. Attendees cannot pull from the venue.`,
        action:
          "Check `docker ps` for venue-frontdoor and read `docker logs venue-frontdoor`. On macOS, AirPlay Receiver takes port 5000: turn it off in System Settings > General > AirDrop & Handoff, then `pulumi up`.",
      });
    }
    const down = status.health.replicas.filter((r) => !r.healthy);
    if (down.length > 0 && down.length === status.health.replicas.length) {
      problems.push({
        what: `No replica answers (${down.map((r) => `${r.name}: ${r.problem}`).join("; ")}). Attendees fall back to Docker Hub.`,
        action: "Read `docker logs venue-replica-1`; `pulumi up` recreates stopped replicas.",
      });
    } else {
      for (const replica of down) {
        problems.push({
          what: `${replica.name[0].toUpperCase()}${replica.name.slice(1)} (${replica.url}) is not answering: ${replica.problem}. The front door sends its share to the others.`,
          action: `Read \`docker logs venue-replica-${replica.name.replace(/\D+/g, "")}\`; \`pulumi up\` recreates it.`,
        });
      }
    }
    for (const mirror of status.mirrors.filter((m) => !m.healthy)) {
      problems.push({
        what: `Mirror laptop ${mirror.address} is not answering: ${mirror.problem}. Its attendees fail over to the other serving laptops, so they are slower.`,
        action: `On the mirror laptop, check that it is awake and on the venue network, and run \`pulumi up\` for its stack; http://${mirror.address}/ should show its dashboard.`,
      });
    }
    if (status.images.missing.length > 0) {
      const names = status.images.missing.slice(0, 5).join(", ") + (status.images.missing.length > 5 ? ", ..." : "");
      problems.push({
        what: `${status.images.missing.length} of ${status.images.expected} images are not in the registry: ${names}. Attendees get those from Docker Hub.`,
        action: "Run `pulumi up` again to mirror them, while this laptop is still on a fast network.",
      });
    }
    if (status.downloads.problem && this.options.stubStatusUrl) {
      problems.push({
        what: `Active downloads are unknown: ${status.downloads.problem}.`,
        action: "Check that the front door is running; stub_status must allow the monitor's network.",
      });
    }
    if (status.accessLog.problem) {
      problems.push({
        what: `Pull counts are not being measured: ${status.accessLog.problem}.`,
        action: "The front door and the monitor must share the venue-logs volume; check `docker inspect venue-monitor`.",
      });
    }
    return problems;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://monitor");
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      response.end("The monitor is read-only: use GET.\n");
      return;
    }
    const send = (status: number, type: string, body: string, cache = "no-store"): void => {
      response.writeHead(status, { "Content-Type": type, "Cache-Control": cache, "Content-Length": Buffer.byteLength(body) });
      response.end(request.method === "HEAD" ? undefined : body);
    };
    switch (url.pathname) {
      case "/":
        return send(200, "text/html; charset=utf-8", renderDashboardPage(this.latest));
      case "/slides":
        return send(200, "text/html; charset=utf-8", renderSlidesPage(this.latest));
      case "/static/slides.js":
        return send(200, "text/javascript; charset=utf-8", SLIDES_SCRIPT, "no-cache");
      case "/api/status":
        return send(200, "application/json; charset=utf-8", `${JSON.stringify(this.latest, null, 2)}\n`);
      case "/healthz":
        return send(200, "application/json; charset=utf-8", '{"status":"ok"}\n');
      case "/events":
        return this.openStream(request, response);
      case "/static/dashboard.css":
        return send(200, "text/css; charset=utf-8", DASHBOARD_CSS, "no-cache");
      case "/static/dashboard.js":
        return send(200, "text/javascript; charset=utf-8", DASHBOARD_SCRIPT, "no-cache");
      default: {
        const slide = /^\/slides\/(\d+)$/.exec(url.pathname);
        if (slide && Number(slide[1]) >= 1 && Number(slide[1]) <= SLIDE_COUNT) {
          return send(200, "text/html; charset=utf-8", renderSingleSlidePage(this.latest, Number(slide[1])));
        }
        if (url.pathname === GUIDES_URL_PATH.slice(0, -1) || url.pathname === GUIDES_URL_PATH) {
          return send(200, "text/html; charset=utf-8", renderGuideIndex(this.guides));
        }
        if (url.pathname.startsWith(GUIDES_URL_PATH)) {
          const guide = this.guides.find((g) => g.name === url.pathname.slice(GUIDES_URL_PATH.length));
          if (guide) return send(200, "text/html; charset=utf-8", renderGuidePage(guide, this.guides, this.addressReachedBy(request)));
        }
        return send(
          404,
          "text/plain; charset=utf-8",
          `Nothing at ${url.pathname}. The dashboard is at /, the slides at /slides (one at a time: /slides/1 to /slides/${SLIDE_COUNT}), the attendee guides at ${GUIDES_URL_PATH}.\n`,
        );
      }
    }
  }

  /** The LAN address this reader came in by (the front door passes Host on), so a guide shows the one that works for them. */
  private addressReachedBy(request: http.IncomingMessage): string | undefined {
    const host = (request.headers.host ?? "").toLowerCase();
    return (this.addresses.find((a) => a.address.toLowerCase() === host) ?? this.addresses[0])?.address;
  }

  private openStream(request: http.IncomingMessage, response: http.ServerResponse): void {
    // A dashboard reached through the front door holds one of nginx's writing connections for as
    // long as it is open; those are subtracted from active downloads.
    const proxied = Boolean(request.headers["x-forwarded-for"] || request.headers["x-real-ip"] || request.headers.forwarded);
    response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      // nginx would otherwise buffer the stream and the page would stop being live.
      "X-Accel-Buffering": "no",
    });
    if (request.method === "HEAD") return void response.end();
    response.write("retry: 3000\n\n");
    this.streams.add(response);
    if (proxied) this.proxiedStreams += 1;
    response.write(this.eventText());
    request.socket.setKeepAlive(true);
    response.on("close", () => {
      if (this.streams.delete(response) && proxied) this.proxiedStreams -= 1;
    });
  }

  private eventText(): string {
    const payload = { status: this.latest, sections: renderDashboardSections(this.latest) };
    return `event: status\ndata: ${JSON.stringify(payload)}\n\n`;
  }

  private broadcast(): void {
    if (this.streams.size === 0) return;
    const text = this.eventText();
    for (const stream of this.streams) stream.write(text);
  }

  closeStreams(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    this.proxiedStreams = 0;
    this.tail.close();
  }
}

/** Starts the service and its refresh loop; the first figures are gathered before it resolves. */
export async function startMonitor(options: MonitorOptions): Promise<RunningMonitor> {
  const monitor = new Monitor(options);
  const { host, port } = parseListenAddress(options.listen);
  const server = http.createServer((request, response) => monitor.handle(request, response));
  server.on("clientError", (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`The monitor cannot listen on ${options.listen}: something else uses that port.`)
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  await monitor.refresh();
  const interval = options.refreshIntervalMs ?? 2_000;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    timer = setTimeout(() => {
      monitor
        .refresh()
        .catch((error: unknown) => console.error(`monitor refresh failed: ${errorMessage(error)}`))
        .finally(() => {
          if (!closed) loop();
        });
    }, interval);
  };
  loop();
  const address = server.address() as AddressInfo;
  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${address.port}`,
    status: () => monitor.status(),
    refresh: () => monitor.refresh(),
    close: async () => {
      closed = true;
      if (timer) clearTimeout(timer);
      monitor.closeStreams();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

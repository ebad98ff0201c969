#!/usr/bin/env node
/**
 * A venue you can measure, on one machine: mirror laptops and attendee laptops as Linux network
 * namespaces, each with a veth cable into a bridge that lives in a "switch" namespace of its own, so
 * nothing is added to the machine's own network and no packet can leave. Every mirror's cable is
 * shaped with tc (tbf) to a fixed rate that stands in for its network card. On every mirror run the
 * real docker-registry and the real nginx front door (lib/nginx-config.ts); the second mirror fills
 * itself from the primary over the simulated LAN (lib/mirror.ts with seedFrom), as a mirror laptop
 * does. Attendees are light clients (scripts/venue-netns-host.ts) that pick their mirror with
 * lib/mirror-selection.ts and fetch and verify every manifest and blob of their platform.
 *
 * Run it as root: `npm run bench:venue` (options: `npm run bench:venue -- --help`). It needs iproute2,
 * docker-registry, nginx-light and curl. Namespaces are named vsim-<pid>-<random>-* and removed on
 * exit, on Ctrl-C and on SIGTERM; leftovers of a killed run are removed by the next run.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import * as readline from "readline";
import { bytesPerAttendee, planCapacity, platformMix } from "../lib/capacity-planner";
import { mirrorImage, verifyVenue } from "../lib/mirror";
import { buildMirrorList, writeMirrorList } from "../lib/mirror-list";
import { countAssignments, machineIdentity } from "../lib/mirror-selection";
import { frontDoorContainerOptions, renderNginxConfig } from "../lib/nginx-config";
import { renderRegistryConfig } from "../lib/registry-config";
import { VenueLock, readLock } from "../lib/venue-lock";
import { FixtureImageSpec, buildFixtureSet, pushFixtures } from "../test/support/fixtures";
import { requireProgram, startRegistry } from "../test/support/services";
import { killNamespaceProcesses, namespaceNames, removeStaleNamespaces as removeStaleNamespacesMatching, runProgram as run } from "./netns";
import type { AttendeeEvent } from "./venue-netns-host";

/** The same allowance as the PRD's "1 GbE ≈ 117 MB/s": Ethernet, IP and TCP headers take the rest. */
export const USABLE_SHARE_OF_LINE_RATE = 117 / 125;

const FRONT_DOOR_PORT = 5000;
const REGISTRY_ADDRESS = "127.0.0.1:5001";
const SUBNET = "10.77";

export interface SimulatedVenueOptions {
  mirrors: number;
  attendees: number;
  /** Each mirror's link, in Mbit/s. */
  rateMbit: number;
  /** Incompressible bytes in each image's own layer, per platform. */
  payloadBytes: number;
  /** Images in the workshop; all share one base layer, as real workshop images share a distro. */
  imageCount: number;
  /** Attendee platforms, assigned in turn. */
  attendeePlatforms: string[];
  log: (line: string) => void;
}

export interface MirrorHost {
  index: number;
  namespace: string;
  /** "10.77.0.1:5000", the front door as attendees reach it. */
  address: string;
  dir: string;
  attendeeDir: string;
  processes: ChildProcess[];
  stopped: boolean;
}

export interface AttendeeHost {
  index: number;
  namespace: string;
  hostName: string;
  mac: string;
  platform: string;
}

export interface AttendeeResult {
  hostName: string;
  platform: string;
  assigned?: string;
  /** From the start signal to its last verified blob, measured by this script. */
  completedMs?: number;
  /** Its own time from the start to its first blob request: mirrors.json, lock file, manifests. */
  setupMs?: number;
  verifiedBytes: number;
  transferredBytes: number;
  bytesByMirror: Record<string, number>;
  failovers: number;
  error?: string;
}

export interface ScenarioOptions {
  /** How many mirrors the primary publishes in mirrors.json (1 = the primary alone). */
  servingMirrors: number;
  /** Run only the first this many attendees (default all). */
  attendeeCount?: number;
  /** Stop this mirror (1-based) that long after the start: every process on it is killed. */
  stopMirror?: { index: number; afterMs: number };
  timeoutMs: number;
}

export interface ScenarioResult {
  servingMirrors: number;
  attendees: AttendeeResult[];
  /** Until every attendee had every image; undefined when one never did. */
  makespanMs?: number;
  p50Ms?: number;
  p99Ms?: number;
  errors: string[];
  failovers: number;
  /** Attendees per mirror by their own ranking (first choice). */
  assignments: Record<string, number>;
  /** What each mirror's shaped link sent during the run (tc counters, headers included). */
  linkBytes: Record<string, number>;
  stoppedAtMs?: number;
}

export interface PlannerEstimate {
  bytesPerAttendee: number;
  throughputBytesPerSecond: number;
  /** The planner's time for one laptop, divided over the serving laptops. */
  seconds: number;
  /** The same, with the attendees the busiest mirror actually got instead of an even share. */
  busiestMirrorSeconds: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Namespaces left by a run that was killed before it could clean up (its pid is gone). */
export function removeStaleNamespaces(log: (line: string) => void = () => undefined): string[] {
  const removed = removeStaleNamespacesMatching(/^vsim-(\d+)-[0-9a-f]+-/);
  if (removed.length > 0) log(`removed ${removed.length} namespaces left by an earlier, killed run`);
  return removed;
}

function fixtureSpecs(options: SimulatedVenueOptions): FixtureImageSpec[] {
  const names = ["python-lab", "postgres-lab", "web-lab", "tools-lab", "jupyter-lab", "redis-lab"];
  if (options.imageCount < 1 || options.imageCount > names.length) throw new Error(`imageCount must be 1 to ${names.length}`);
  const platforms = [...new Set(options.attendeePlatforms)].sort();
  return names.slice(0, options.imageCount).map((name, i) => ({
    repository: `upstream/${name}`,
    tag: `1.${i}`,
    format: i % 2 === 0 ? "oci" : "docker",
    platforms,
    payloadBytes: options.payloadBytes,
  }));
}

/**
 * The simulated venue. `build` brings it up; `destroy` (or `destroySync` from a signal or exit
 * handler) kills every process in its namespaces and deletes them, whatever state it is in.
 */
export class SimulatedVenue {
  readonly prefix = `vsim-${process.pid}-${crypto.randomBytes(2).toString("hex")}`;
  readonly workDir: string;
  readonly switchNamespace = `${this.prefix}-sw`;
  readonly mirrors: MirrorHost[] = [];
  readonly attendees: AttendeeHost[] = [];
  readonly namespaces: string[] = [];
  lock: VenueLock | undefined;
  hostProgram = "";
  seedSeconds: number[] = [];
  sameDigestsOnEveryMirror = false;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(readonly options: SimulatedVenueOptions) {
    if (options.mirrors < 1 || options.mirrors > 9) throw new Error("mirrors must be 1 to 9");
    if (options.attendees < 1 || options.attendees > 200) throw new Error("attendees must be 1 to 200");
    this.workDir = fs.mkdtempSync(`/tmp/${this.prefix}-`);
    // nginx workers run as nobody: they must reach the storage and the attendee folder.
    fs.chmodSync(this.workDir, 0o755);
  }

  private log(line: string): void {
    this.options.log(line);
  }

  private addNamespace(name: string): void {
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    run("ip", ["-n", name, "link", "set", "lo", "up"]);
  }

  /** A host namespace with its cable into the switch; the cable is made inside the switch namespace. */
  private addHost(name: string, port: string, address: string, mac: string): void {
    this.addNamespace(name);
    run("ip", ["-n", this.switchNamespace, "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", name]);
    run("ip", ["-n", this.switchNamespace, "link", "set", port, "master", "br0"]);
    run("ip", ["-n", this.switchNamespace, "link", "set", port, "up"]);
    run("ip", ["-n", name, "addr", "add", `${address}/16`, "dev", "eth0"]);
    run("ip", ["-n", name, "link", "set", "eth0", "up"]);
  }

  /** Starts a program inside a namespace; `ip netns exec` execs it, so the child is the program. */
  spawnIn(namespace: string, program: string, args: string[], logFile: string, stdio: "log" | "pipe" = "log"): ChildProcess {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_PROXY: "*", no_proxy: "*" };
    // "pipe": stdin and stdout for the attendee protocol; stderr always goes to the log.
    const log = fs.openSync(logFile, "a");
    const child = spawn("ip", ["netns", "exec", namespace, program, ...args], { stdio: stdio === "log" ? ["ignore", log, log] : ["pipe", "pipe", log], env });
    fs.closeSync(log);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** curl from inside a namespace; the status code, or 0 when nothing answered. */
  curlStatus(namespace: string, url: string): number {
    try {
      const out = execFileSync("ip", ["netns", "exec", namespace, "curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code}", url], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        env: { PATH: process.env.PATH, NO_PROXY: "*" },
      });
      return Number(out.trim()) || 0;
    } catch {
      return 0;
    }
  }

  private async waitUntil(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (probe()) return;
      await sleep(150);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  async build(): Promise<void> {
    requireProgram("ip", "iproute2");
    requireProgram("tc", "iproute2");
    requireProgram("docker-registry", "docker-registry");
    requireProgram("nginx", "nginx-light");
    requireProgram("curl", "curl");
    removeStaleNamespaces((line) => this.log(line));
    const { mirrors, attendees, rateMbit, attendeePlatforms } = this.options;
    const started = performance.now();

    // 1. The network: a switch namespace with a bridge, and one cable per host.
    this.addNamespace(this.switchNamespace);
    run("ip", ["-n", this.switchNamespace, "link", "add", "br0", "type", "bridge"]);
    run("ip", ["-n", this.switchNamespace, "link", "set", "br0", "up"]);
    for (let i = 1; i <= mirrors; i++) {
      const namespace = `${this.prefix}-m${i}`;
      this.addHost(namespace, `m${i}`, `${SUBNET}.0.${i}`, `02:76:6d:00:00:${i.toString(16).padStart(2, "0")}`);
      // The mirror's network card: everything it sends goes through a token bucket at the link rate.
      run("tc", ["-n", namespace, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", `${rateMbit}mbit`, "burst", "256kb", "latency", "50ms"]);
      const dir = path.join(this.workDir, `m${i}`);
      const attendeeDir = path.join(dir, "attendee");
      for (const sub of ["storage", "attendee", "logs", "tmp", "locks"]) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
      this.mirrors.push({ index: i, namespace, address: `${SUBNET}.0.${i}:${FRONT_DOOR_PORT}`, dir, attendeeDir, processes: [], stopped: false });
    }
    for (let j = 1; j <= attendees; j++) {
      const namespace = `${this.prefix}-a${j}`;
      const mac = `02:76:73:00:${(j >> 8).toString(16).padStart(2, "0")}:${(j & 0xff).toString(16).padStart(2, "0")}`;
      this.addHost(namespace, `a${j}`, `${SUBNET}.${1 + (j >> 8)}.${j & 0xff}`, mac);
      this.attendees.push({ index: j, namespace, hostName: `attendee-${String(j).padStart(2, "0")}`, mac, platform: attendeePlatforms[(j - 1) % attendeePlatforms.length] });
    }
    this.log(`network: ${mirrors} mirror(s) at ${rateMbit} Mbit/s and ${attendees} attendees on ${SUBNET}.0.0/16, namespaces ${this.prefix}-*`);

    // 2. The programs that run inside the hosts, bundled once so each starts in a blink.
    this.hostProgram = path.join(this.workDir, "venue-netns-host.js");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const esbuild = require("esbuild") as typeof import("esbuild");
    // "module" first: some dependencies (jsonc-parser) ship a UMD "main" whose dynamic requires cannot be bundled.
    esbuild.buildSync({ entryPoints: [path.join(__dirname, "venue-netns-host.ts")], bundle: true, platform: "node", target: "node20", format: "cjs", mainFields: ["module", "main"], outfile: this.hostProgram, logLevel: "error" });

    // 3. The workshop's images, pushed to an "internet" registry on this machine's loopback, and
    //    mirrored into the primary's storage with lib/mirror.ts, as `pulumi up` does.
    const images = buildFixtureSet(fixtureSpecs(this.options));
    const upstream = await startRegistry();
    const primary = this.mirrors[0];
    const imagesFile = path.join(this.workDir, "images.json");
    try {
      await pushFixtures(upstream.url, images);
      const entries = images.map((image) => ({ source: `${upstream.host}/${image.repository}:${image.tag}`, target: `${image.repository.replace(/^upstream\//, "workshop/")}:${image.tag}` }));
      fs.writeFileSync(imagesFile, `${JSON.stringify({ images: entries }, null, 2)}\n`);
      const writer = await startRegistry({ rootDirectory: path.join(primary.dir, "storage") });
      try {
        for (const entry of entries) {
          await mirrorImage({ source: entry.source, target: entry.target, registry: writer.host, lockDir: path.join(primary.dir, "locks"), report: () => undefined });
        }
        const verified = await verifyVenue({ images: imagesFile, registry: writer.host, lockDir: path.join(primary.dir, "locks"), out: path.join(primary.attendeeDir, "venue-lock.json") });
        if (verified.problems.length > 0) throw new Error(`the primary is incomplete: ${JSON.stringify(verified.problems)}`);
      } finally {
        await writer.stop();
      }
    } finally {
      await upstream.stop();
    }
    this.lock = readLock(path.join(primary.attendeeDir, "venue-lock.json"));
    this.publishMirrors(1);

    // 4. Registries and front doors on the mirror hosts; the others fill themselves from the primary.
    for (const mirror of this.mirrors) await this.startMirrorServices(mirror);
    for (const mirror of this.mirrors.slice(1)) {
      const seedStarted = performance.now();
      const child = this.spawnIn(
        mirror.namespace,
        process.execPath,
        [this.hostProgram, "seed", "--from", primary.address, "--registry", REGISTRY_ADDRESS, "--images", imagesFile, "--lock-dir", path.join(mirror.dir, "locks"), "--out", path.join(mirror.attendeeDir, "venue-lock.json")],
        path.join(mirror.dir, "logs", "seed.log"),
      );
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      if (code !== 0) throw new Error(`mirror ${mirror.index} could not seed itself from ${primary.address}; see ${path.join(mirror.dir, "logs", "seed.log")}`);
      this.seedSeconds.push((performance.now() - seedStarted) / 1000);
    }
    const digestsOf = (lock: VenueLock): string => JSON.stringify(lock.images.map((i) => [i.target, i.indexDigest, i.platforms.map((p) => p.digest)]));
    this.sameDigestsOnEveryMirror = this.mirrors.every((m) => digestsOf(readLock(path.join(m.attendeeDir, "venue-lock.json"))) === digestsOf(this.lock!));
    if (!this.sameDigestsOnEveryMirror) throw new Error("a seeded mirror's lock file has other digests than the primary's");
    for (const attendee of [this.attendees[0], this.attendees[this.attendees.length - 1]]) {
      for (const mirror of this.mirrors) {
        const status = this.curlStatus(attendee.namespace, `http://${mirror.address}/healthz`);
        if (status !== 200) throw new Error(`${attendee.hostName} cannot reach ${mirror.address}/healthz (status ${status})`);
      }
    }
    this.log(
      `venue ready in ${((performance.now() - started) / 1000).toFixed(1)} s: ${this.lock.images.length} images, per attendee ${Object.entries(this.lock.totals)
        .map(([p, b]) => `${p} ${(b / 2 ** 20).toFixed(2)} MiB`)
        .join(", ")}` + (this.seedSeconds.length > 0 ? `; mirror seeding over the shaped link took ${this.seedSeconds.map((s) => `${s.toFixed(1)} s`).join(", ")}` : ""),
    );
  }

  private async startMirrorServices(mirror: MirrorHost): Promise<void> {
    const configFile = path.join(mirror.dir, "registry.yml");
    fs.writeFileSync(configFile, renderRegistryConfig({ listenAddress: REGISTRY_ADDRESS, rootDirectory: path.join(mirror.dir, "storage"), readOnly: false }));
    mirror.processes.push(this.spawnIn(mirror.namespace, "docker-registry", ["serve", configFile], path.join(mirror.dir, "logs", "registry.log")));
    const [host] = mirror.address.split(":");
    const nginxConfig = renderNginxConfig(
      frontDoorContainerOptions(1, {
        listenAddress: host,
        listenPort: FRONT_DOOR_PORT,
        replicas: [REGISTRY_ADDRESS],
        // No dashboard runs in the simulation; its routes answer 502.
        monitor: "127.0.0.1:5009",
        storageRoot: path.join(mirror.dir, "storage"),
        attendeeDirectory: mirror.attendeeDir,
        accessLog: path.join(mirror.dir, "logs", "access.json"),
        errorLog: path.join(mirror.dir, "logs", "error.log"),
        pidFile: path.join(mirror.dir, "nginx.pid"),
        tempDirectory: path.join(mirror.dir, "tmp"),
        status: { port: 8081, address: "127.0.0.1", allow: ["127.0.0.1"] },
        workerProcesses: 1,
        workerConnections: 4096,
        workerRlimitNofile: 8192,
      }),
    );
    const nginxFile = path.join(mirror.dir, "nginx.conf");
    fs.writeFileSync(nginxFile, nginxConfig);
    mirror.processes.push(
      this.spawnIn(mirror.namespace, "nginx", ["-p", mirror.dir, "-c", nginxFile, "-e", path.join(mirror.dir, "logs", "error.log"), "-g", "daemon off;"], path.join(mirror.dir, "logs", "nginx.out")),
    );
    await this.waitUntil(`mirror ${mirror.index}'s registry and front door (logs in ${path.join(mirror.dir, "logs")})`, () => {
      for (const child of mirror.processes) if (child.exitCode !== null) throw new Error(`a program on mirror ${mirror.index} exited; see ${path.join(mirror.dir, "logs")}`);
      return this.curlStatus(mirror.namespace, `http://${mirror.address}/healthz`) === 200;
    });
  }

  /** The primary's mirrors.json: itself plus the next `count - 1` mirrors. Every mirror serves a copy. */
  publishMirrors(count: number): void {
    const list = buildMirrorList(this.mirrors[0].address, this.mirrors.slice(1, count).map((m) => m.address));
    for (const mirror of this.mirrors) writeMirrorList(path.join(mirror.attendeeDir, "mirrors.json"), list);
  }

  /** The laptop dies: every process in its namespace is killed, so connections to it reset. */
  stopMirror(index: number): void {
    const mirror = this.mirrors[index - 1];
    killNamespaceProcesses(mirror.namespace);
    mirror.stopped = true;
  }

  linkBytes(): Record<string, number> {
    const sent: Record<string, number> = {};
    for (const mirror of this.mirrors) {
      try {
        const stats = JSON.parse(run("tc", ["-n", mirror.namespace, "-s", "-j", "qdisc", "show", "dev", "eth0"])) as Array<{ kind: string; bytes: number }>;
        sent[mirror.address] = stats.find((q) => q.kind === "tbf")?.bytes ?? 0;
      } catch {
        sent[mirror.address] = 0;
      }
    }
    return sent;
  }

  /** The attendees' identities, as they compute them, for planning. */
  assignments(servingMirrors: number): Record<string, number> {
    const list = this.mirrors.slice(0, servingMirrors).map((m) => m.address);
    const ids = this.attendees.map((a) =>
      machineIdentity({ readMachineId: () => undefined, hostname: () => a.hostName, networkInterfaces: () => ({ eth0: [{ address: "", netmask: "", family: "IPv4", mac: a.mac, internal: false, cidr: null }] }) }),
    );
    return Object.fromEntries(countAssignments(list, ids));
  }

  async runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
    if (!this.lock) throw new Error("build the venue first");
    this.publishMirrors(options.servingMirrors);
    const results = new Map<string, AttendeeResult>();
    const errors: string[] = [];
    let start = 0;
    const children: ChildProcess[] = [];
    const ready = new Set<string>();
    const finished = new Set<string>();
    const primary = this.mirrors[0].address;
    const taking = this.attendees.slice(0, options.attendeeCount ?? this.attendees.length);
    for (const attendee of taking) {
      const result: AttendeeResult = { hostName: attendee.hostName, platform: attendee.platform, verifiedBytes: 0, transferredBytes: 0, bytesByMirror: {}, failovers: 0 };
      results.set(attendee.hostName, result);
      const child = this.spawnIn(
        attendee.namespace,
        process.execPath,
        [this.hostProgram, "attendee", "--venue", primary, "--host-name", attendee.hostName, "--platform", attendee.platform],
        path.join(this.workDir, `${attendee.hostName}.log`),
        "pipe",
      );
      children.push(child);
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        let event: AttendeeEvent;
        try {
          event = JSON.parse(line) as AttendeeEvent;
        } catch {
          return;
        }
        if (event.event === "ready") ready.add(event.host);
        else if (event.event === "assigned") result.assigned = event.order[0];
        else if (event.event === "failover") result.failovers++;
        else if (event.event === "done") {
          finished.add(event.host);
          result.completedMs = performance.now() - start;
          result.setupMs = event.setupMs;
          result.verifiedBytes = event.verifiedBytes;
          result.transferredBytes = event.transferredBytes;
          result.bytesByMirror = event.bytesByMirror;
        } else if (event.event === "error") {
          finished.add(event.host);
          result.error = event.message;
        }
      });
      child.once("exit", (code) => {
        finished.add(attendee.hostName);
        if (code !== 0 && !result.error) result.error = `exited with code ${code}`;
      });
    }
    await this.waitUntil("every attendee to start", () => ready.size === taking.length || finished.size > 0, 30_000);
    if (finished.size > 0) throw new Error(`an attendee exited before the start; see ${this.workDir}/attendee-*.log`);

    const linkBefore = this.linkBytes();
    start = performance.now();
    for (const child of children) child.stdin!.write("go\n");
    let stoppedAtMs: number | undefined;
    let stopTimer: NodeJS.Timeout | undefined;
    if (options.stopMirror) {
      const { index, afterMs } = options.stopMirror;
      stopTimer = setTimeout(() => {
        this.stopMirror(index);
        stoppedAtMs = performance.now() - start;
      }, afterMs);
    }
    const deadline = start + options.timeoutMs;
    while (finished.size < taking.length && performance.now() < deadline) await sleep(50);
    if (stopTimer) clearTimeout(stopTimer);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    const linkAfter = this.linkBytes();

    const expected = this.lock.totals;
    for (const result of results.values()) {
      if (result.error) errors.push(`${result.hostName}: ${result.error}`);
      else if (result.completedMs === undefined) errors.push(`${result.hostName}: not done after ${options.timeoutMs} ms`);
      else if (result.verifiedBytes !== expected[result.platform]) {
        errors.push(`${result.hostName}: verified ${result.verifiedBytes} bytes, the lock file says ${expected[result.platform]} for ${result.platform}`);
      }
    }
    const times = [...results.values()].map((r) => r.completedMs).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
    const everyoneDone = times.length === taking.length;
    const assignments: Record<string, number> = {};
    for (const r of results.values()) if (r.assigned) assignments[r.assigned] = (assignments[r.assigned] ?? 0) + 1;
    const linkBytes = Object.fromEntries(Object.keys(linkAfter).map((m) => [m, linkAfter[m] - (linkBefore[m] ?? 0)]));
    return {
      servingMirrors: options.servingMirrors,
      attendees: [...results.values()],
      makespanMs: everyoneDone ? times[times.length - 1] : undefined,
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
      errors,
      failovers: [...results.values()].reduce((sum, r) => sum + r.failovers, 0),
      assignments,
      linkBytes,
      stoppedAtMs,
    };
  }

  /**
   * What the capacity planner says for this venue with `servingMirrors` laptops, each delivering
   * `throughputBytesPerSecond` (default: the link rate less header overhead).
   */
  plannerEstimate(servingMirrors: number, throughputBytesPerSecond?: number): PlannerEstimate {
    if (!this.lock) throw new Error("build the venue first");
    const pulls: Record<string, number> = {};
    for (const a of this.attendees) pulls[a.platform] = (pulls[a.platform] ?? 0) + 1;
    const perAttendee = bytesPerAttendee(this.lock.totals, platformMix(this.lock.platforms, pulls));
    const throughput = throughputBytesPerSecond ?? ((this.options.rateMbit * 1e6) / 8) * USABLE_SHARE_OF_LINE_RATE;
    const oneLaptop = planCapacity({ attendees: this.attendees.length, bytesPerAttendee: perAttendee, throughputBytesPerSecond: throughput, targetMinutes: 0 }).secondsToServeAll!;
    const busiest = Math.max(...Object.values(this.assignments(servingMirrors)));
    return { bytesPerAttendee: perAttendee, throughputBytesPerSecond: throughput, seconds: oneLaptop / servingMirrors, busiestMirrorSeconds: (oneLaptop * busiest) / this.attendees.length };
  }

  /** Kills everything this venue started and deletes its namespaces; safe to call more than once. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    for (const namespace of [...this.namespaces].reverse()) {
      killNamespaceProcesses(namespace);
      try {
        execFileSync("ip", ["netns", "del", namespace], { stdio: "ignore" });
      } catch {
        // Never created, or already removed.
      }
    }
    // Logs of every program are in the work folder; VENUE_SIM_KEEP_LOGS=1 keeps them for a post-mortem.
    if (process.env.VENUE_SIM_KEEP_LOGS) this.log(`kept the logs in ${this.workDir}`);
    else fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }
}

/** The namespaces of this process's venues that still exist (for tests that check the clean-up). */
export function listNamespaces(prefix: string): string[] {
  return namespaceNames().filter((name) => name.startsWith(`${prefix}-`));
}

// ---------------------------------------------------------------------------------------------
// The bench: 1 mirror, 2 mirrors, and 2 mirrors with one stopped half way.
// ---------------------------------------------------------------------------------------------

function seconds(ms: number | undefined): string {
  return ms === undefined ? "-" : `${(ms / 1000).toFixed(1)} s`;
}

function gapPercent(result: ScenarioResult, estimateSeconds: number): string {
  if (result.makespanMs === undefined) return "-";
  const gap = ((result.makespanMs / 1000 - estimateSeconds) / estimateSeconds) * 100;
  return `${gap >= 0 ? "+" : ""}${gap.toFixed(1)}%`;
}

function describeScenario(title: string, result: ScenarioResult, nominal: PlannerEstimate, measured: PlannerEstimate): string[] {
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const setups = result.attendees.map((a) => a.setupMs).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const lines = [
    `${title}`,
    `  every attendee has every image after: ${seconds(result.makespanMs)}   per attendee p50 ${seconds(result.p50Ms)}, p99 ${seconds(result.p99Ms)}   (setup before the first blob: p50 ${seconds(percentile(setups, 50))})`,
    `  planner at the link rate: ${nominal.seconds.toFixed(1)} s (actual ${gapPercent(result, nominal.seconds)}); ` +
      `at the measured single-attendee rate: ${measured.seconds.toFixed(1)} s (actual ${gapPercent(result, measured.seconds)}); ` +
      `busiest mirror's actual share at the link rate: ${nominal.busiestMirrorSeconds.toFixed(1)} s`,
    `  attendees per mirror: ${Object.entries(result.assignments).map(([m, n]) => `${m} ${n}`).join(", ")}`,
    `  link bytes sent: ${Object.entries(result.linkBytes).map(([m, b]) => `${m} ${mib(b)}`).join(", ")}`,
    `  errors: ${result.errors.length}${result.errors.length > 0 ? `\n    ${result.errors.slice(0, 10).join("\n    ")}` : ""}   failovers: ${result.failovers}` +
      (result.stoppedAtMs !== undefined ? `   mirror stopped at ${seconds(result.stoppedAtMs)}` : ""),
  ];
  return lines;
}

interface BenchArgs {
  attendees: number;
  rateMbit: number;
  payloadMib: number;
  images: number;
  stopAt: number;
  timeoutSeconds: number;
  json?: string;
}

function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { attendees: 24, rateMbit: 100, payloadMib: 3.75, images: 3, stopAt: 0.4, timeoutSeconds: 120 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = (): number => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, not "${value ?? ""}"`);
      i++;
      return n;
    };
    if (flag === "--attendees") args.attendees = Math.round(number());
    else if (flag === "--rate-mbit") args.rateMbit = number();
    else if (flag === "--payload-mib") args.payloadMib = number();
    else if (flag === "--images") args.images = Math.round(number());
    else if (flag === "--stop-at") args.stopAt = number();
    else if (flag === "--timeout") args.timeoutSeconds = number();
    else if (flag === "--json") {
      args.json = value;
      i++;
    } else if (flag === "--help" || flag === "-h") {
      process.stdout.write(
        [
          "npm run bench:venue -- [options]   (as root; needs iproute2, docker-registry, nginx-light, curl)",
          "  --attendees N      attendee hosts (default 24)",
          "  --rate-mbit R      each mirror's link in Mbit/s (default 100, standing in for 1 GbE)",
          "  --payload-mib M    each image's own layer per platform in MiB (default 3.75)",
          "  --images K         workshop images sharing one base layer (default 3)",
          "  --stop-at F        stop mirror 2 at this fraction of the planner's 2-mirror time (default 0.4)",
          "  --timeout S        per run, seconds (default 120)",
          "  --json FILE        also write the results as JSON",
          "",
        ].join("\n"),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${flag}; see --help`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("network namespaces need root: run it as root (sudo npm run bench:venue)");
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const venue = new SimulatedVenue({
    mirrors: 2,
    attendees: args.attendees,
    rateMbit: args.rateMbit,
    payloadBytes: Math.round(args.payloadMib * 2 ** 20),
    imageCount: args.images,
    attendeePlatforms: ["linux/amd64", "linux/arm64"],
    log,
  });
  const cleanUp = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: removing the simulated venue (${venue.prefix}-*)\n`);
    venue.destroySync();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", cleanUp);
  process.once("SIGTERM", cleanUp);
  process.once("exit", () => venue.destroySync());
  const benchStarted = performance.now();
  const startLoad = os.loadavg().map((l) => l.toFixed(1)).join(" ");
  try {
    await venue.build();
    const timeoutMs = args.timeoutSeconds * 1000;
    // Baseline in the same run: one attendee alone on the primary measures what a mirror's link
    // delivers to a pull once it is busy; the dashboard's planner works from such a measurement.
    const calibration = await venue.runScenario({ servingMirrors: 1, attendeeCount: 1, timeoutMs });
    const solo = calibration.attendees[0];
    if (calibration.errors.length > 0 || solo.completedMs === undefined || solo.setupMs === undefined) throw new Error(`the calibration pull failed: ${calibration.errors.join("; ")}`);
    const measuredThroughput = solo.verifiedBytes / ((solo.completedMs - solo.setupMs) / 1000);
    const one = await venue.runScenario({ servingMirrors: 1, timeoutMs });
    const two = await venue.runScenario({ servingMirrors: 2, timeoutMs });
    const twoEstimate = venue.plannerEstimate(2);
    const twoMeasured = venue.plannerEstimate(2, measuredThroughput);
    const stopAfterMs = Math.round(twoEstimate.seconds * 1000 * args.stopAt);
    const failover = await venue.runScenario({ servingMirrors: 2, timeoutMs, stopMirror: { index: 2, afterMs: stopAfterMs } });
    const oneEstimate = venue.plannerEstimate(1);
    const oneMeasured = venue.plannerEstimate(1, measuredThroughput);
    const lines = [
      "",
      `venue simulation: ${args.attendees} attendees (linux/amd64 and linux/arm64 in turn), ${args.images} images, mirrors on ${args.rateMbit} Mbit/s links`,
      `bytes per attendee (lock file totals, shared layers once): ${oneEstimate.bytesPerAttendee} B; planner throughput per laptop: ${(oneEstimate.throughputBytesPerSecond / 1e6).toFixed(2)} MB/s (${args.rateMbit} Mbit/s x ${USABLE_SHARE_OF_LINE_RATE.toFixed(3)})`,
      `measured in this run: one attendee alone pulled at ${(measuredThroughput / 1e6).toFixed(2)} MB/s (${solo.verifiedBytes} B after ${Math.round(solo.setupMs)} ms of setup); load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} on ${os.cpus().length} CPUs (at start: ${startLoad})`,
      `mirror 2 seeded itself from the primary over its link in ${venue.seedSeconds.map((s) => `${s.toFixed(1)} s`).join(", ")}; same digests on every mirror: ${venue.sameDigestsOnEveryMirror ? "yes" : "NO"}`,
      "",
      ...describeScenario("1 mirror (the primary alone)", one, oneEstimate, oneMeasured),
      "",
      ...describeScenario("2 mirrors", two, twoEstimate, twoMeasured),
      "",
      // After the stop the primary carries everything that is left, so the 1-laptop plan is the bound.
      ...describeScenario(`2 mirrors, mirror 2 stopped at ${(args.stopAt * 100).toFixed(0)}% of the planned time (planner: 1 laptop, the survivor)`, failover, oneEstimate, oneMeasured),
      "",
      one.makespanMs !== undefined && two.makespanMs !== undefined
        ? `2 mirrors took ${((two.makespanMs / one.makespanMs) * 100).toFixed(1)}% of the 1-mirror time (ideal 50%).`
        : "a run did not complete; see the errors above.",
      `total bench time ${((performance.now() - benchStarted) / 1000).toFixed(1)} s`,
    ];
    log(lines.join("\n"));
    if (args.json) {
      fs.writeFileSync(args.json, `${JSON.stringify({ args, measuredThroughput, calibration, lockTotals: venue.lock?.totals, seedSeconds: venue.seedSeconds, one, two, failover, estimates: { one: oneEstimate, two: twoEstimate, oneMeasured, twoMeasured } }, null, 2)}\n`);
    }
    if ([one, two, failover].some((r) => r.errors.length > 0 || r.makespanMs === undefined)) process.exitCode = 1;
  } finally {
    venue.destroySync();
  }
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`venue simulation: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}

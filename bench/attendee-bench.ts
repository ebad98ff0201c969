/**
 * The attendee CLI's pull against the obvious alternative: a sequential `docker pull` loop over the
 * same images from the same front door, into the same dockerd, in the same run, with the engine's
 * images wiped before every pull. Prints the times and the ratio (target: 0.6 or less).
 *
 * It measures two links, from the same storage, in one run:
 * - loopback: the front door on 127.0.0.1. The network costs nothing, so the machine's CPU (hashing
 *   and unpacking layers) is all there is to overlap.
 * - shaped: the same front door and a read-only registry in a network namespace of their own
 *   (bench/shaped-link.ts), reached over a veth pair whose registry-to-dockerd direction is
 *   rate-limited, as a venue's Wi-Fi or shared 1 GbE is. Needs root and iproute2.
 *
 * Usage: npm run bench:attendee [-- --images 20 --mib 8 --rounds 3 --concurrency 3,4
 *          --mbit 200,1000 --delay-ms 3 --links loopback,shaped]
 * --concurrency and --mbit take lists; the CLI's default concurrency is 3. Every rate is measured on
 * the same link, changed in place. --delay-ms needs the kernel's netem; without it the default delay
 * is dropped with a note, and an explicit --delay-ms fails.
 */
import { ChildProcess, execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildMirrorList, writeMirrorList } from "../lib/mirror-list";
import { renderNginxConfig } from "../lib/nginx-config";
import { DEFAULT_CONCURRENCY } from "../lib/puller";
import { buildLock } from "../lib/venue-lock";
import { packAttendee } from "../scripts/pack-attendee";
import { lockedImageFor, writeLockForVenue } from "../test/support/attendee-venue";
import { buildFixtureImage, FixtureImage, FixtureImageSpec, pushFixtures } from "../test/support/fixtures";
import { freePort, makeTempDir, RunningDockerd, startDockerd, startNginx, startRegistry, stopAllServices } from "../test/support/services";
import { createShapedLink, removeStaleShapedLinks, ShapedLink } from "./shaped-link";

type LinkKind = "loopback" | "shaped";

interface BenchOptions {
  imageCount: number;
  mib: number;
  rounds: number;
  concurrencies: number[];
  links: LinkKind[];
  /** Rates of the shaped link to measure, in Mbit/s. */
  mbits: number[];
  delayMs: number;
  /** --delay-ms given on the command line: fail rather than run without the delay. */
  delayAsked: boolean;
}

/** The venue as one link (or one rate of the shaped link) reaches it. */
interface Venue {
  /** "loopback" or "shaped 200 Mbit/s": names it in the output and keys its samples. */
  label: string;
  /** host:port of the front door, as attendees pass it to --registry. */
  frontDoor: string;
  /** The CLI's own home, so one link's saved lock and mirror list never leak into the other's run. */
  home: string;
  /** The shaped link at this venue's rate; undefined on loopback. */
  shaped?: { link: ShapedLink; mbit: number };
}

interface Sample {
  seconds: number;
  /** Bytes the shaped link carried during the pull. */
  linkBytes?: number;
}

const LINK_KINDS: LinkKind[] = ["loopback", "shaped"];
/** The whole measuring part stops starting rounds after this, so the bench stays within ~5 minutes. */
const MEASURING_BUDGET_MS = 180_000;
const PULL_TIMEOUT_MS = 120_000;
const FRONT_DOOR_PORT = 5000;
const REGISTRY_PORT = 5001;

function argumentValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function numberArgument(name: string, fallback: number, check: (value: number) => boolean): number {
  const text = argumentValue(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!check(value)) throw new Error(`${name} ${text} is out of range`);
  return value;
}

function parseOptions(): BenchOptions {
  const positiveInteger = (value: number) => Number.isInteger(value) && value >= 1;
  const concurrencies = (argumentValue("--concurrency") ?? `${DEFAULT_CONCURRENCY},4`).split(",").map(Number);
  if (!concurrencies.every((value) => positiveInteger(value) && value <= 16)) throw new Error("--concurrency takes whole numbers from 1 to 16, e.g. 3,4");
  const mbits = (argumentValue("--mbit") ?? "200,1000").split(",").map(Number);
  if (!mbits.every((value) => value > 0 && value <= 10_000)) throw new Error("--mbit takes rates from above 0 to 10000 Mbit/s, e.g. 200,1000");
  const links = (argumentValue("--links") ?? LINK_KINDS.join(",")).split(",") as LinkKind[];
  if (!links.every((link) => LINK_KINDS.includes(link))) throw new Error(`--links takes ${LINK_KINDS.join(", ")}`);
  return {
    // The workshop's images.json lists 20 images: the default measures a pull of that size.
    imageCount: numberArgument("--images", 20, (value) => positiveInteger(value) && value <= 20),
    mib: numberArgument("--mib", 8, (value) => value > 0 && value <= 64),
    rounds: numberArgument("--rounds", 3, (value) => positiveInteger(value) && value <= 5),
    concurrencies: [...new Set(concurrencies)],
    links,
    mbits: [...new Set(mbits)],
    delayMs: numberArgument("--delay-ms", 3, (value) => value >= 0 && value <= 200),
    delayAsked: argumentValue("--delay-ms") !== undefined,
  };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** A world-readable folder with venue-lock.json and mirrors.json, as the stack's attendee folder. */
function attendeeFolder(frontDoor: string, images: FixtureImage[], sourceRegistry: string): string {
  const wwwDir = makeTempDir("bench-www");
  fs.chmodSync(wwwDir, 0o755);
  fs.mkdirSync(path.join(wwwDir, "attendee"), { mode: 0o755 });
  const lock = buildLock(images.map((image) => lockedImageFor(image, sourceRegistry)), ["linux/amd64"], new Date("2026-01-01T00:00:00Z"));
  writeLockForVenue(wwwDir, lock);
  const mirrorsFile = path.join(wwwDir, "attendee", "mirrors.json");
  writeMirrorList(mirrorsFile, buildMirrorList(frontDoor, []));
  fs.chmodSync(mirrorsFile, 0o644);
  return path.join(wwwDir, "attendee");
}

/** The stack's front door (lib/nginx-config.ts); only addresses and paths differ. */
async function startFrontDoor(options: {
  listenAddress: string;
  listenPort: number;
  replica: string;
  statusPort: number;
  storageRoot: string;
  attendeeDirectory: string;
  netns?: string;
}): Promise<void> {
  const prefix = makeTempDir("bench-frontdoor");
  fs.mkdirSync(path.join(prefix, "logs"));
  const config = renderNginxConfig({
    listenAddress: options.listenAddress,
    listenPort: options.listenPort,
    replicas: [options.replica],
    // No dashboard runs in the bench; its routes would answer 503.
    monitor: `127.0.0.1:${await freePort()}`,
    storageRoot: options.storageRoot,
    attendeeDirectory: options.attendeeDirectory,
    accessLog: path.join(prefix, "logs", "access.json"),
    errorLog: path.join(prefix, "logs", "error.log"),
    pidFile: path.join(prefix, "nginx.pid"),
    tempDirectory: prefix,
    // The storage and temp folders are the bench's own (mode 0700): workers run as this user.
    user: os.userInfo().username,
    status: { port: options.statusPort, address: "127.0.0.1", allow: ["127.0.0.1"] },
  });
  await startNginx(config, `http://${options.listenAddress}:${options.listenPort}/healthz`, prefix, { netns: options.netns });
}

/** One blob, fetched over the link: what the link carries in practice, against its nominal rate. */
async function linkCheck(frontDoor: string, image: FixtureImage): Promise<string> {
  const started = process.hrtime.bigint();
  // The image's largest blob is its own incompressible layer.
  const manifestResponse = await fetch(`http://${frontDoor}/v2/${image.repository}/manifests/${image.digest}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
  });
  const manifest = (await manifestResponse.json()) as { layers: Array<{ digest: string; size: number }> };
  const largest = manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
  const response = await fetch(`http://${frontDoor}/v2/${image.repository}/blobs/${largest.digest}`);
  const bytes = (await response.arrayBuffer()).byteLength;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (bytes !== largest.size) throw new Error(`the link check got ${bytes} of ${largest.size} bytes`);
  return `${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s = ${((bytes * 8) / seconds / 1e6).toFixed(0)} Mbit/s of payload`;
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Programs the bench is waiting for; a signal stops them so the bench can clean up at once. */
const runningPrograms = new Set<ChildProcess>();

/** Runs a program to its end without blocking, so SIGINT and SIGTERM are handled meanwhile. */
function runToEnd(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(program, args, { env, timeout: PULL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      runningPrograms.delete(child);
      if (error) reject(new Error(`${path.basename(program)} ${args.join(" ")} failed (${error.message.split("\n")[0]}):\n${stdout}${stderr}`));
      else resolve();
    });
    runningPrograms.add(child);
  });
}

async function measure(venue: Venue, pull: () => Promise<void>): Promise<Sample> {
  const before = venue.shaped?.link.shapedBytes();
  const started = process.hrtime.bigint();
  await pull();
  const seconds = secondsSince(started);
  return { seconds, linkBytes: before === undefined ? undefined : venue.shaped!.link.shapedBytes() - before };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { imageCount, mib } = options;
  removeStaleShapedLinks(say);
  // The link first: a kernel without netem fails an explicit --delay-ms before any work is done.
  if (options.links.includes("shaped")) {
    shapedLink = createShapedLink({ mbit: options.mbits[0], delayMs: options.delayMs, requireDelay: options.delayAsked, log: say });
  }

  // Each image: the shared busybox base plus its own incompressible layer, like a workshop's
  // language runtimes and databases that share little.
  const specs: FixtureImageSpec[] = Array.from({ length: imageCount }, (_, i) => ({
    repository: `bench/image-${i + 1}`,
    tag: "1.0",
    format: i % 2 === 0 ? "oci" : "docker",
    platforms: ["linux/amd64"],
    single: true,
    payloadBytes: mib * 1024 * 1024,
  }));
  say(`building ${imageCount} images of ${mib} MiB each...`);
  const images = specs.map(buildFixtureImage);
  storageFolder = makeTempDir("bench-storage");
  const storageRoot = path.join(storageFolder, "data");
  const writer = await startRegistry({ rootDirectory: storageRoot });
  await pushFixtures(writer.url, images);

  const venues: Venue[] = [];
  if (options.links.includes("loopback")) {
    const port = await freePort();
    const frontDoor = `127.0.0.1:${port}`;
    await startFrontDoor({
      listenAddress: "127.0.0.1",
      listenPort: port,
      replica: writer.host,
      statusPort: await freePort(),
      storageRoot,
      attendeeDirectory: attendeeFolder(frontDoor, images, writer.host),
    });
    venues.push({ label: "loopback", frontDoor, home: makeTempDir("bench-home") });
  }
  const link = shapedLink;
  if (link) {
    // Inside the namespace, as on the venue's laptop: a read-only replica on the same storage and the
    // front door on the venue's ports, both on the namespace's end of the link.
    const replica = await startRegistry({ rootDirectory: storageRoot, readOnly: true, host: link.address, port: REGISTRY_PORT, netns: link.namespace });
    const frontDoor = `${link.address}:${FRONT_DOOR_PORT}`;
    await startFrontDoor({
      listenAddress: link.address,
      listenPort: FRONT_DOOR_PORT,
      replica: replica.host,
      statusPort: 8081,
      storageRoot,
      attendeeDirectory: attendeeFolder(frontDoor, images, writer.host),
      netns: link.namespace,
    });
    say(`shaped link: ${link.hostAddress} (root) <-> ${link.address} (namespace ${link.namespace}), delay ${link.delayMs > 0 ? `${link.delayMs} ms` : "none"}`);
    for (const mbit of options.mbits) {
      link.setRate(mbit);
      const label = `shaped ${mbit} Mbit/s${link.delayMs > 0 ? ` + ${link.delayMs} ms` : ""}`;
      venues.push({ label, frontDoor, home: makeTempDir("bench-home"), shaped: { link, mbit } });
      say(`link check at ${mbit} Mbit/s: ${await linkCheck(frontDoor, images[0])}`);
    }
  }

  // One engine for every pull; the shaped venue is not on 127.0.0.0/8, so it must be listed.
  const insecure = link ? [`${link.address}:${FRONT_DOOR_PORT}`] : [];
  const dockerd: RunningDockerd = await startDockerd({ daemonJson: `${JSON.stringify({ "insecure-registries": insecure })}\n` });
  const packageDir = makeTempDir("bench-pack");
  const tgz = await packAttendee({ out: path.join(packageDir, "workshop-attendee.tgz") });
  execFileSync("tar", ["xzf", tgz, "-C", packageDir]);
  const cliJs = path.join(packageDir, "package", "cli.js");

  const wipe = () => runToEnd("docker", ["image", "prune", "-a", "-f"], dockerd.env);
  const dockerPullLoop = (venue: Venue) => async () => {
    for (const image of images) await runToEnd("docker", ["pull", "-q", `${venue.frontDoor}/${image.repository}@${image.digest}`], dockerd.env);
  };
  const attendeeCli = (venue: Venue, concurrency: number) => () =>
    runToEnd(process.execPath, [cliJs, "pull", "--registry", venue.frontDoor, "--concurrency", String(concurrency), "--no-fallback"], {
      PATH: process.env.PATH,
      HOME: venue.home,
      DOCKER_HOST: dockerd.dockerHost,
    });

  const deadline = Date.now() + MEASURING_BUDGET_MS;
  const cliKey = (venue: Venue, concurrency: number) => `${venue.label} ${concurrency}`;
  const loopSamples = new Map<string, Sample[]>(venues.map((venue) => [venue.label, []]));
  const cliSamples = new Map<string, Sample[]>(venues.flatMap((venue) => options.concurrencies.map((c) => [cliKey(venue, c), []] as [string, Sample[]])));
  for (let round = 1; round <= options.rounds && Date.now() < deadline; round++) {
    for (const venue of venues) {
      venue.shaped?.link.setRate(venue.shaped.mbit);
      // Alternate who goes first, so neither side always meets a colder or warmer machine.
      const contenders: Array<{ name: string; pull: () => Promise<void>; into: Sample[] }> = [
        { name: "docker pull loop", pull: dockerPullLoop(venue), into: loopSamples.get(venue.label)! },
        ...options.concurrencies.map((concurrency) => ({
          name: `CLI --concurrency ${concurrency}`,
          pull: attendeeCli(venue, concurrency),
          into: cliSamples.get(cliKey(venue, concurrency))!,
        })),
      ];
      if (round % 2 === 0) contenders.reverse();
      const line: string[] = [];
      for (const contender of contenders) {
        await wipe();
        const sample = await measure(venue, contender.pull);
        contender.into.push(sample);
        line.push(`${contender.name} ${sample.seconds.toFixed(2)} s${sample.linkBytes === undefined ? "" : ` (${(sample.linkBytes / 1e6).toFixed(1)} MB on the link)`}`);
      }
      say(`round ${round}, ${venue.label}: ${line.join(", ")}`);
    }
  }

  const mean = (samples: Sample[]) => samples.reduce((sum, sample) => sum + sample.seconds, 0) / samples.length;
  const megabytes = (imageCount * mib * 1024 * 1024) / 1e6;
  const rounds = loopSamples.get(venues[0].label)!.length;
  say("");
  say(`${imageCount} images x ${mib} MiB (${megabytes.toFixed(0)} MB), ${rounds} round(s), one dockerd, images wiped before every pull, ${os.cpus().length} cores`);
  const header = ["link", "docker pull loop", ...options.concurrencies.map((c) => `CLI --concurrency ${c}${c === DEFAULT_CONCURRENCY ? " (default)" : ""}`)];
  const rows = venues.map((venue) => {
    const loop = mean(loopSamples.get(venue.label)!);
    return [
      venue.label,
      `${loop.toFixed(2)} s`,
      ...options.concurrencies.map((concurrency) => {
        const cli = mean(cliSamples.get(cliKey(venue, concurrency))!);
        return `${cli.toFixed(2)} s = ${(cli / loop).toFixed(2)}x`;
      }),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  for (const row of [header, ...rows]) say(row.map((cell, column) => cell.padEnd(widths[column])).join(" | "));
  say("ratio = CLI / loop, target <= 0.60x. The CLI's times include Node start-up and reading the lock file.");
  for (const venue of venues) {
    if (!venue.shaped) continue;
    const loop = loopSamples.get(venue.label)!;
    const bytes = loop.reduce((sum, sample) => sum + (sample.linkBytes ?? 0), 0) / loop.length;
    const wireSeconds = (bytes * 8) / (venue.shaped.mbit * 1e6);
    say(`${venue.label}: ${(bytes / 1e6).toFixed(1)} MB per pull take ${wireSeconds.toFixed(2)} s on the wire = ${(wireSeconds / mean(loop)).toFixed(2)}x of the loop's time; no puller can go below that.`);
  }
}

let shapedLink: ShapedLink | undefined;
/** The registry's storage: the run's largest leftover (the images' size), removed at the end. */
let storageFolder: string | undefined;
let stopping = false;

function removeStorage(): void {
  if (storageFolder) fs.rmSync(storageFolder, { recursive: true, force: true });
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: removing the shaped link and stopping the bench's programs...\n`);
    // What runs now, then the namespace (quick, and it takes its programs along), then the rest.
    for (const child of runningPrograms) child.kill("SIGTERM");
    shapedLink?.destroy();
    void stopAllServices().finally(() => {
      removeStorage();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  });
}
// Last resort (an uncaught error, process.exit elsewhere): the namespace must not outlive the bench.
process.on("exit", () => shapedLink?.destroy());

main()
  .catch((error: unknown) => {
    // After a signal, the programs it stopped fail; that is no news.
    if (stopping) return;
    process.stderr.write(`attendee bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAllServices();
    shapedLink?.destroy();
    removeStorage();
  });

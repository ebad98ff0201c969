/**
 * The programs that run inside the simulated venue's hosts (scripts/venue-netns.ts starts them with
 * `ip netns exec`), bundled into one file so that two dozen of them start in a blink:
 *
 * - `attendee`: a light attendee laptop. It reads mirrors.json from the venue, ranks the mirrors for
 *   its own identity (lib/mirror-selection.ts), reads the lock file, then fetches every manifest and
 *   blob of its platform with the digests checked, failing over to the next mirror whenever one stops
 *   answering. It reports JSON lines on stdout and waits for "go" on stdin before it starts, so all
 *   attendees start together.
 * - `seed`: a mirror laptop filling itself from the primary over the venue network (lib/mirror.ts with
 *   seedFrom), then writing its own lock file (verifyVenue), as `pulumi up --stack venue-b` does.
 */
import * as os from "os";
import { performance } from "perf_hooks";
import * as readline from "readline";
import axios from "axios";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { mapWithConcurrency } from "../lib/concurrency";
import { readImageList } from "../lib/image-list";
import { parseManifest } from "../lib/manifest";
import { mirrorImage, verifyVenue } from "../lib/mirror";
import { MIRROR_LIST_URL_PATH } from "../lib/mirror-list";
import { parseMirrorListText, servingRegistries } from "../lib/mirror-list";
import { machineIdentity, orderMirrorsForMachine } from "../lib/mirror-selection";
import { fetchVenueLock, planPull } from "../lib/puller";
import { DigestMismatchError, RegistryClient } from "../lib/registry-client";

/** One line of the attendee's report; scripts/venue-netns.ts parses these. */
export type AttendeeEvent =
  | { event: "ready"; host: string }
  | { event: "assigned"; host: string; order: string[]; mirrorsFrom: string }
  | { event: "failover"; host: string; from: string; to: string | undefined; what: string; reason: string }
  | { event: "done"; host: string; ms: number; setupMs: number; images: number; blobs: number; verifiedBytes: number; transferredBytes: number; bytesByMirror: Record<string, number> }
  | { event: "error"; host: string; ms: number; message: string };

function emit(event: AttendeeEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "go") {
        // Settle first: closing emits "close" at once, which would reject.
        resolve();
        lines.close();
      }
    });
    lines.on("close", () => reject(new Error("standard input closed before the start signal")));
  });
}

/** A mirror that failed is skipped for this long, then tried again (it may have been restarted). */
const MIRROR_COOLDOWN_MS = 30_000;
const ROUNDS = 3;

/**
 * Runs one request against the machine's mirrors in order: its own mirror first, the next one when a
 * mirror fails. A failed mirror rests for a while so later requests go straight to the next one.
 */
class MirrorFailover {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly restingUntil = new Map<string, number>();

  constructor(
    private readonly host: string,
    private readonly order: string[],
  ) {
    for (const mirror of order) {
      this.clients.set(
        mirror,
        new RegistryClient({ registry: mirror, insecureRegistries: order, retries: 1, retryBaseDelayMs: 200, idleTimeoutMs: 10_000, userAgent: "venue-simulated-attendee" }),
      );
    }
  }

  private candidates(): string[] {
    const now = Date.now();
    const awake = this.order.filter((m) => (this.restingUntil.get(m) ?? 0) <= now);
    // Everyone resting: try them all again rather than give up.
    return awake.length > 0 ? awake : this.order;
  }

  async run<T>(what: string, operation: (client: RegistryClient, mirror: string) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let round = 0; round < ROUNDS; round++) {
      const candidates = this.candidates();
      for (let i = 0; i < candidates.length; i++) {
        const mirror = candidates[i];
        try {
          return await operation(this.clients.get(mirror)!, mirror);
        } catch (error) {
          lastError = error;
          this.restingUntil.set(mirror, Date.now() + MIRROR_COOLDOWN_MS);
          const next = candidates[i + 1];
          const reason = error instanceof DigestMismatchError ? `digest mismatch: ${error.message}` : (error as Error).message;
          emit({ event: "failover", host: this.host, from: mirror, to: next, what, reason });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (round + 1)));
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}

interface AttendeeArgs {
  venue: string;
  registry?: string;
  "host-name": string;
  platform: string;
  concurrency: number;
}

async function runAttendee(args: AttendeeArgs): Promise<void> {
  const host = args["host-name"];
  // Simulated hosts share this machine's /etc/machine-id and host name, but not their network
  // interfaces: identify by the given host name and the namespace's own hardware addresses.
  const identity = machineIdentity({ readMachineId: () => undefined, hostname: () => host, networkInterfaces: () => os.networkInterfaces() });
  emit({ event: "ready", host });
  await waitForGo();
  const started = performance.now();
  try {
    let mirrors: string[];
    let mirrorsFrom: string;
    if (args.registry) {
      mirrors = args.registry.split(",").map((m) => m.trim()).filter(Boolean);
      mirrorsFrom = "--registry";
    } else {
      const url = `http://${args.venue}${MIRROR_LIST_URL_PATH}`;
      const response = await axios.get(url, { timeout: 5_000, proxy: false, responseType: "text", transformResponse: (x) => x, validateStatus: () => true });
      if (response.status === 200) {
        mirrors = servingRegistries(parseMirrorListText(String(response.data), url));
        mirrorsFrom = url;
      } else {
        mirrors = [args.venue];
        mirrorsFrom = `${url} answered ${response.status}: the venue alone`;
      }
    }
    const order = orderMirrorsForMachine(mirrors, identity);
    emit({ event: "assigned", host, order, mirrorsFrom });
    const failover = new MirrorFailover(host, order);
    const { lock } = await fetchVenueLock(order, 5_000);
    const plan = planPull(lock, args.platform);
    if (plan.unavailable.length > 0) throw new Error(`the venue has no ${args.platform} for ${plan.unavailable.map((i) => i.target).join(", ")}`);

    // Manifests: the index by the lock's digest, then this platform's manifest; the blobs it names
    // must be the ones the lock promised.
    const blobs = new Map<string, { repository: string; size: number }>();
    for (const planned of plan.images) {
      const repository = planned.image.repository;
      await failover.run(`index ${planned.image.target}`, (client) => client.getManifest(repository, planned.image.indexDigest));
      const fetched = await failover.run(`manifest ${planned.image.target} ${args.platform}`, (client) => client.getManifest(repository, planned.platform.digest));
      const manifest = parseManifest(fetched.bytes, fetched.mediaType, `${planned.image.target} ${args.platform}`);
      if (manifest.kind !== "image") throw new Error(`${planned.image.target} ${args.platform} is not an image manifest`);
      const named = [manifest.config, ...manifest.layers].map((d) => d.digest).sort();
      const promised = planned.platform.blobs.map((b) => b.digest).sort();
      if (JSON.stringify(named) !== JSON.stringify(promised)) throw new Error(`${planned.image.target} ${args.platform}: the manifest's blobs differ from the lock file's`);
      for (const blob of planned.platform.blobs) if (!blobs.has(blob.digest)) blobs.set(blob.digest, { repository, size: blob.size });
    }

    // Blobs, largest first, a few at a time as dockerd does; each digest is checked as it streams.
    const setupMs = performance.now() - started;
    let transferredBytes = 0;
    let verifiedBytes = 0;
    const bytesByMirror: Record<string, number> = {};
    const queue = [...blobs].sort((a, b) => b[1].size - a[1].size);
    await mapWithConcurrency(queue, args.concurrency, async ([digest, blob]) => {
      await failover.run(`blob ${digest.slice(0, 19)}`, async (client, mirror) => {
        const stream = await client.openBlob(blob.repository, digest, blob.size, (n) => {
          transferredBytes += n;
          bytesByMirror[mirror] = (bytesByMirror[mirror] ?? 0) + n;
        });
        for await (const chunk of stream as AsyncIterable<Buffer>) void chunk;
      });
      verifiedBytes += blob.size;
    });
    emit({ event: "done", host, ms: performance.now() - started, setupMs, images: plan.images.length, blobs: blobs.size, verifiedBytes, transferredBytes, bytesByMirror });
  } catch (error) {
    emit({ event: "error", host, ms: performance.now() - started, message: (error as Error).message });
    process.exitCode = 1;
  }
}

interface SeedArgs {
  from: string;
  registry: string;
  images: string;
  "lock-dir": string;
  out: string;
}

async function runSeed(args: SeedArgs): Promise<void> {
  const started = performance.now();
  let bytesCopied = 0;
  for (const entry of readImageList(args.images)) {
    const result = await mirrorImage({
      source: entry.source,
      target: entry.target,
      registry: args.registry,
      seedFrom: args.from,
      lockDir: args["lock-dir"],
      insecureRegistries: [args.from],
      progressIntervalMs: 60_000,
      report: (line) => process.stderr.write(`${line}\n`),
    });
    bytesCopied += result.bytesCopied;
  }
  const verified = await verifyVenue({ images: args.images, registry: args.registry, lockDir: args["lock-dir"], out: args.out });
  if (verified.problems.length > 0) throw new Error(`the seeded mirror is incomplete: ${JSON.stringify(verified.problems)}`);
  process.stdout.write(`${JSON.stringify({ event: "seeded", bytesCopied, ms: performance.now() - started })}\n`);
}

if (require.main === module) {
  void yargs(hideBin(process.argv))
    .command<AttendeeArgs>(
      "attendee",
      "Pull the venue's images like an attendee laptop, verifying every digest",
      (y) =>
        y
          .option("venue", { type: "string", demandOption: true, describe: "The primary venue, host:port" })
          .option("registry", { type: "string", describe: "Comma-separated mirrors; default: the venue's mirrors.json" })
          .option("host-name", { type: "string", demandOption: true, describe: "This simulated laptop's name (part of its identity)" })
          .option("platform", { type: "string", default: "linux/amd64" })
          .option("concurrency", { type: "number", default: 3 }) as never,
      // Exit explicitly: the start-signal pipe stays open for as long as the bench runs.
      (args) => runAttendee(args).then(() => process.exit(process.exitCode ?? 0)),
    )
    .command<SeedArgs>(
      "seed",
      "Fill this mirror laptop's registry from the primary and write its lock file",
      (y) =>
        y
          .option("from", { type: "string", demandOption: true })
          .option("registry", { type: "string", demandOption: true })
          .option("images", { type: "string", demandOption: true })
          .option("lock-dir", { type: "string", demandOption: true })
          .option("out", { type: "string", demandOption: true }) as never,
      async (args) => {
        try {
          await runSeed(args);
        } catch (error) {
          process.stderr.write(`seed: ${(error as Error).message}\n`);
          process.exitCode = 1;
        }
      },
    )
    .demandCommand(1)
    .strict()
    .parseAsync();
}

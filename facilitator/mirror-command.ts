/**
 * `venue mirror` copies one image into the venue (lib/mirror.ts); the stack runs one per image.
 * `venue verify` checks the whole venue against images.json and writes venue-lock.json.
 * Exit codes: 0 done, 1 the copy or check failed, 2 the input was wrong.
 */
import type { Argv, CommandModule } from "yargs";
import { formatBytes } from "../lib/byte-size";
import { InvalidReferenceError } from "../lib/image-reference";
import { ImageListError } from "../lib/image-list";
import { DEFAULT_CONCURRENCY, DEFAULT_LOCK_DIR, MirrorInputError, describeProblems, mirrorImage, verifyVenue } from "../lib/mirror";
import { LOCK_FILE_NAME } from "../lib/venue-lock";

export const DEFAULT_LOCK_OUT = `.venue/www/attendee/${LOCK_FILE_NAME}`;

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

function fail(verb: string, error: unknown): void {
  const input = error instanceof MirrorInputError || error instanceof InvalidReferenceError || error instanceof ImageListError;
  process.stderr.write(`venue ${verb}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = input ? 2 : 1;
}

interface MirrorArgs {
  source: string;
  target: string;
  registry: string;
  platforms?: string;
  "seed-from"?: string;
  "lock-dir": string;
  concurrency: number;
  insecure: string[];
  "progress-interval": number;
}

export const mirrorCommand: CommandModule<object, MirrorArgs> = {
  command: "mirror",
  describe: "Copy one image, every wanted platform with its digests, into the venue registry",
  builder: (y: Argv) =>
    y
      .option("source", { type: "string", demandOption: true, describe: 'Image to copy, e.g. "postgres:15-alpine"' })
      .option("target", { type: "string", demandOption: true, describe: 'Venue name, e.g. "workshop/postgres:15-alpine"' })
      .option("registry", { type: "string", demandOption: true, describe: "The venue's writable registry, host:port (e.g. 127.0.0.1:5001)" })
      .option("platforms", { type: "string", describe: "Comma-separated platforms to keep (default: all the source has)" })
      .option("seed-from", { type: "string", describe: "Read the image from this venue (host:port, plain HTTP) instead of the source" })
      .option("lock-dir", { type: "string", default: DEFAULT_LOCK_DIR, describe: "Folder for the per-image lock fragments" })
      .option("concurrency", { type: "number", default: DEFAULT_CONCURRENCY, describe: "Blobs copied at the same time" })
      .option("insecure", { type: "string", array: true, default: [] as string[], describe: "A registry (host:port) to reach over plain HTTP; repeatable" })
      .option("progress-interval", { type: "number", default: 2, describe: "Seconds between progress lines" }) as unknown as Argv<MirrorArgs>,
  handler: async (args) => {
    try {
      await mirrorImage({
        source: args.source,
        target: args.target,
        registry: args.registry,
        platforms: splitList(args.platforms),
        seedFrom: args["seed-from"],
        lockDir: args["lock-dir"],
        concurrency: args.concurrency,
        insecureRegistries: args.insecure.flatMap((item) => splitList(item)),
        progressIntervalMs: Math.max(0.05, args["progress-interval"]) * 1000,
      });
    } catch (error) {
      fail("mirror", error);
    }
  },
};

interface VerifyArgs {
  images: string;
  registry: string;
  "lock-dir": string;
  out: string;
  platforms?: string;
  insecure: string[];
  concurrency: number;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: "verify",
  describe: "Check that every image and platform is in the venue, then write venue-lock.json",
  builder: (y: Argv) =>
    y
      .option("images", { type: "string", default: "images.json", describe: "The workshop's image list" })
      .option("registry", { type: "string", demandOption: true, describe: "The venue's registry, host:port" })
      .option("lock-dir", { type: "string", default: DEFAULT_LOCK_DIR, describe: "Folder of the mirror's lock fragments" })
      .option("out", { type: "string", default: DEFAULT_LOCK_OUT, describe: "Where to write the venue lock file" })
      .option("platforms", { type: "string", describe: "Comma-separated venue-wide platforms (images.json entries may narrow them)" })
      .option("insecure", { type: "string", array: true, default: [] as string[], describe: "A registry (host:port) to reach over plain HTTP; repeatable" })
      .option("concurrency", { type: "number", default: 8, describe: "HEAD requests at the same time" }) as unknown as Argv<VerifyArgs>,
  handler: async (args) => {
    try {
      const result = await verifyVenue({
        images: args.images,
        registry: args.registry,
        lockDir: args["lock-dir"],
        out: args.out,
        platforms: splitList(args.platforms),
        insecureRegistries: args.insecure.flatMap((item) => splitList(item)),
        concurrency: args.concurrency,
      });
      if (result.problems.length > 0) {
        process.stderr.write(`${describeProblems(result.problems, args.registry, result.imageCount)}\n`);
        process.exitCode = 1;
        return;
      }
      const lock = result.lock!;
      const totals = Object.entries(lock.totals)
        .map(([platform, bytes]) => `${platform} ${formatBytes(bytes)}`)
        .join(", ");
      process.stdout.write(`All ${lock.images.length} images are in ${args.registry}; wrote ${args.out} (per attendee: ${totals})\n`);
    } catch (error) {
      fail("verify", error);
    }
  },
};

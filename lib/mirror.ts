/**
 * Registry-to-registry copy into the venue, every wanted platform, digests intact (what `crane copy`
 * or `skopeo sync --all` do, and what a docker pull/tag/push loop cannot: it only copies the laptop's
 * own platform).
 *
 * Order matters for resumability and for readers: blobs first (only the missing ones, mounted from
 * another venue repository when it already holds them), then platform manifests by digest, then the
 * index by digest, and the tag last, so the tag never points at something incomplete. A killed run
 * leaves whole blobs behind; the next run finds them with HEAD and copies only the rest.
 *
 * `verifyVenue` checks the registry against the lock fragments the mirror wrote and assembles the
 * venue lock file.
 */
import * as fs from "fs";
import * as path from "path";
import { Readable } from "stream";
import axios from "axios";
import { formatBytes } from "./byte-size";
import { mapWithConcurrency } from "./concurrency";
import { ImageReference, formatImageReference, manifestReference, parseImageReference, parseRepositoryAndTag } from "./image-reference";
import { ImageListEntry, platformsFor, readImageList } from "./image-list";
import { Descriptor, ImageManifest, attestedDigest, buildFilteredIndex, configPlatform, descriptorPlatform, isForeignLayer, parseManifest, selectPlatforms, sha256Digest } from "./manifest";
import { normalizePlatformText, parsePlatform } from "./platform";
import { DigestMismatchError, RegistryClient, RegistryClientOptions, RegistryError } from "./registry-client";
import { LockedImage, LockedPlatform, VenueLock, buildLock, readLockFragment, validateLockedImage, writeLock, writeLockFragment } from "./venue-lock";

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_LOCK_DIR = ".venue/locks";

/** A problem with the request itself (bad reference, unknown platform): exit code 2. */
export class MirrorInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MirrorInputError";
  }
}

export interface MirrorOptions {
  /** The image to copy, as people write it: "postgres:15-alpine", "ghcr.io/org/app@sha256:...". */
  source: string;
  /** The venue name: "workshop/postgres:15-alpine". */
  target: string;
  /** The venue's writable registry, "127.0.0.1:5001". */
  registry: string;
  /** Platforms to keep ("linux/amd64"); empty or absent keeps all. */
  platforms?: string[];
  /** Another venue ("192.168.1.20:5000") to read `<target>` from instead of the source. */
  seedFrom?: string;
  lockDir?: string;
  concurrency?: number;
  /** Registries reached over plain HTTP besides loopback. */
  insecureRegistries?: string[];
  /** Receives progress lines (default: standard output). */
  report?: (line: string) => void;
  /** How often a progress line is printed while bytes flow (default 2 s). */
  progressIntervalMs?: number;
  /** Extra client settings (retries, credentials) for source and venue, for tests and tools. */
  sourceClient?: Partial<RegistryClientOptions>;
  venueClient?: Partial<RegistryClientOptions>;
}

export interface MirrorResult {
  image: LockedImage;
  fragmentFile: string;
  /** Blob bytes that travelled (mounted and present blobs do not count). */
  bytesCopied: number;
  blobsCopied: number;
  blobsMounted: number;
  blobsPresent: number;
  manifestsPushed: number;
}

interface BlobToCopy {
  digest: string;
  size: number;
}

interface PlatformPlan {
  platform: string;
  descriptor: { digest: string; mediaType: string; size: number };
  bytes: Buffer;
  manifest: ImageManifest;
}

const MiB = 1024 * 1024;

function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

/**
 * Progress as plain lines, because `pulumi up` shows a command's output without a terminal: no
 * carriage returns or bars, one line every interval while bytes flow.
 */
class TransferProgress {
  private done = 0;
  private blobsDone = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private lastLine = "";

  constructor(
    private readonly name: string,
    private readonly totalBytes: number,
    private readonly totalBlobs: number,
    private readonly report: (line: string) => void,
    intervalMs: number,
  ) {
    if (totalBytes > 0) {
      this.timer = setInterval(() => this.print(), intervalMs);
      this.timer.unref();
    }
  }

  add(bytes: number): void {
    this.done += bytes;
  }

  blobFinished(): void {
    this.blobsDone++;
  }

  rate(bytes = this.done): string {
    const seconds = (Date.now() - this.started) / 1000;
    return seconds > 0 ? `${formatBytes(Math.round(bytes / seconds))}/s` : "-";
  }

  print(): void {
    const percent = this.totalBytes > 0 ? Math.floor((this.done / this.totalBytes) * 100) : 100;
    const line = `${this.name}: ${formatBytes(this.done)} / ${formatBytes(this.totalBytes)} (${percent}%) at ${this.rate()}, ${this.blobsDone} of ${this.totalBlobs} blobs`;
    if (line !== this.lastLine) this.report(line);
    this.lastLine = line;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Digest -> a venue repository that holds it, from the fragments earlier mirror runs wrote. */
function blobsKnownInVenue(lockDir: string, exceptRepository: string): Map<string, string> {
  const known = new Map<string, string>();
  if (!fs.existsSync(lockDir)) return known;
  for (const file of fs.readdirSync(lockDir)) {
    if (!file.endsWith(".json") || file.startsWith(".")) continue;
    try {
      const image = validateLockedImage(JSON.parse(fs.readFileSync(path.join(lockDir, file), "utf8")), file);
      if (image.repository === exceptRepository) continue;
      for (const platform of image.platforms) for (const blob of platform.blobs) known.set(blob.digest, image.repository);
    } catch {
      // A damaged fragment only costs a mount opportunity; verify reports it.
    }
  }
  return known;
}

function isRetryable(error: unknown): boolean {
  if (error instanceof DigestMismatchError) return false;
  if (error instanceof RegistryError) return error.status === undefined || error.status >= 500;
  return true;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** When seeding from another venue, its lock file knows the original source digest. */
async function sourceDigestFromSeed(seed: string, target: string, seedDigest: string): Promise<string | undefined> {
  try {
    const response = await axios.get(`http://${seed}/attendee/venue-lock.json`, { timeout: 10_000, proxy: false, validateStatus: () => true });
    if (response.status !== 200) return undefined;
    const images = (response.data as { images?: Array<{ target?: string; indexDigest?: string; sourceDigest?: string }> }).images ?? [];
    const match = images.find((image) => image.target === target && image.indexDigest === seedDigest);
    return match?.sourceDigest;
  } catch {
    return undefined;
  }
}

export async function mirrorImage(options: MirrorOptions): Promise<MirrorResult> {
  const report = options.report ?? ((line: string) => process.stdout.write(`${line}\n`));
  const lockDir = options.lockDir ?? DEFAULT_LOCK_DIR;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new MirrorInputError(`--concurrency must be a whole number from 1 to 64, not ${options.concurrency}`);

  let source: ImageReference;
  let target: { repository: string; tag: string };
  try {
    source = parseImageReference(options.source);
    target = parseRepositoryAndTag(options.target);
  } catch (error) {
    throw new MirrorInputError((error as Error).message);
  }
  const wanted: string[] = [];
  for (const text of options.platforms ?? []) {
    try {
      parsePlatform(text);
    } catch (error) {
      throw new MirrorInputError((error as Error).message);
    }
    const normal = normalizePlatformText(text);
    if (!wanted.includes(normal)) wanted.push(normal);
  }
  const targetName = `${target.repository}:${target.tag}`;
  const insecure = [...(options.insecureRegistries ?? []), ...(options.seedFrom ? [options.seedFrom] : [])];

  // Where the bytes come from: the source, or the same venue name in another venue.
  const readFrom = options.seedFrom
    ? { registry: options.seedFrom, repository: target.repository, reference: target.tag }
    : { registry: source.registry, repository: source.repository, reference: manifestReference(source) };
  const readName = `${readFrom.registry}/${readFrom.repository}${readFrom.reference.startsWith("sha256:") ? "@" : ":"}${readFrom.reference}`;
  const from = new RegistryClient({ registry: readFrom.registry, insecureRegistries: insecure, ...options.sourceClient });
  const venue = new RegistryClient({ registry: options.registry, insecureRegistries: insecure, ...options.venueClient });
  const started = Date.now();
  report(`${targetName}: mirroring ${readName} into ${options.registry}/${targetName} (${wanted.length > 0 ? wanted.join(", ") : "all platforms"})`);

  // 1. The top manifest, and the platform manifests to keep.
  const top = await from.getManifest(readFrom.repository, readFrom.reference);
  const topManifest = parseManifest(top.bytes, top.mediaType, readName);
  let venueTop: { bytes: Buffer; digest: string; mediaType: string };
  const children: Array<{ descriptor: Descriptor; platform?: string }> = [];
  if (topManifest.kind === "index") {
    const selection = selectPlatforms(topManifest, wanted);
    if (selection.missing.length > 0) {
      throw new MirrorInputError(
        `${readName} has no ${selection.missing.join(", ")} (it offers ${selection.available.join(", ") || "no platforms"}). ` +
          `Ask only for what it offers: give this image its own "platforms" in images.json, or change --platforms.`,
      );
    }
    const bytes = selection.complete ? top.bytes : buildFilteredIndex(top.bytes, selection.kept);
    venueTop = { bytes, digest: selection.complete ? top.digest : sha256Digest(bytes), mediaType: topManifest.mediaType };
    for (const descriptor of selection.kept) {
      children.push({ descriptor, platform: attestedDigest(descriptor) ? undefined : descriptorPlatform(descriptor) });
    }
  } else {
    venueTop = { bytes: top.bytes, digest: top.digest, mediaType: topManifest.mediaType };
  }

  const plans: PlatformPlan[] = [];
  const extraManifests: PlatformPlan[] = [];
  if (topManifest.kind === "index") {
    const fetched = await mapWithConcurrency(children, concurrency, async (child) => {
      const got = await from.getManifest(readFrom.repository, child.descriptor.digest);
      const parsed = parseManifest(got.bytes, got.mediaType, `${readName} (${child.platform ?? "attestation"} ${shortDigest(child.descriptor.digest)})`);
      if (parsed.kind !== "image") throw new RegistryError(`${readName} nests an index inside its index; such images are not supported by the venue`, readFrom.registry, readFrom.repository);
      return { platform: child.platform ?? "", descriptor: { digest: got.digest, mediaType: parsed.mediaType, size: got.bytes.length }, bytes: got.bytes, manifest: parsed };
    });
    for (const plan of fetched) (plan.platform ? plans : extraManifests).push(plan);
  } else {
    const config = await readAll(await from.openBlob(readFrom.repository, topManifest.config.digest, topManifest.config.size));
    const platform = configPlatform(config) ?? "unknown";
    if (wanted.length > 0 && !wanted.includes(platform)) {
      throw new MirrorInputError(`${readName} is a single-platform image for ${platform}, not ${wanted.join(", ")}; give this image "platforms": ["${platform}"] in images.json, or pick a multi-platform source`);
    }
    plans.push({ platform, descriptor: { digest: top.digest, mediaType: topManifest.mediaType, size: top.bytes.length }, bytes: top.bytes, manifest: topManifest });
  }

  // 2. Blobs: unique, minus foreign layers; find what the venue lacks.
  const blobs = new Map<string, BlobToCopy>();
  for (const plan of [...plans, ...extraManifests]) {
    for (const descriptor of [plan.manifest.config, ...plan.manifest.layers]) {
      if (!isForeignLayer(descriptor)) blobs.set(descriptor.digest, { digest: descriptor.digest, size: descriptor.size });
    }
  }
  const allBlobs = [...blobs.values()];
  const presence = await mapWithConcurrency(allBlobs, Math.max(concurrency, 8), (blob) => venue.headBlob(target.repository, blob.digest));
  const missing = allBlobs.filter((_, i) => presence[i] === undefined).sort((a, b) => b.size - a.size);
  const missingBytes = missing.reduce((sum, b) => sum + b.size, 0);
  const totalBytes = allBlobs.reduce((sum, b) => sum + b.size, 0);
  report(
    `${targetName}: ${allBlobs.length} blobs (${formatBytes(totalBytes)}) for ${plans.map((p) => p.platform).join(", ")}; ` +
      (missing.length === 0 ? "all already in the venue" : `${allBlobs.length - missing.length} already in the venue, copying ${missing.length} (${formatBytes(missingBytes)})`),
  );

  // 3. Copy what is missing: mount when another venue repository has it, else stream it across.
  const elsewhere = blobsKnownInVenue(lockDir, target.repository);
  const progress = new TransferProgress(targetName, missingBytes, missing.length, report, options.progressIntervalMs ?? 2_000);
  let blobsMounted = 0;
  let blobsCopied = 0;
  let bytesCopied = 0;
  try {
    await mapWithConcurrency(missing, concurrency, async (blob) => {
      const mountFrom = elsewhere.get(blob.digest);
      for (let attempt = 1; ; attempt++) {
        let counted = 0;
        try {
          const how = await venue.uploadBlob(
            target.repository,
            blob.digest,
            blob.size,
            () =>
              from.openBlob(readFrom.repository, blob.digest, blob.size, (n) => {
                counted += n;
                progress.add(n);
              }),
            attempt === 1 ? mountFrom : undefined,
          );
          if (how === "mounted") {
            blobsMounted++;
            progress.add(blob.size);
          } else {
            blobsCopied++;
            bytesCopied += counted;
          }
          progress.blobFinished();
          if (blob.size >= MiB) report(`${targetName}: ${how === "mounted" ? `mounted from ${mountFrom}` : "copied"} blob ${shortDigest(blob.digest)} (${formatBytes(blob.size)})`);
          return;
        } catch (error) {
          progress.add(-counted);
          if (attempt >= 3 || !isRetryable(error)) throw error;
          report(`${targetName}: blob ${shortDigest(blob.digest)} failed (${(error as Error).message}); trying again`);
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
        }
      }
    });
  } finally {
    progress.stop();
  }
  if (missing.length > 0) progress.print();

  // 4. Manifests by digest, then the index, then the tag.
  let manifestsPushed = 0;
  const pushByDigest = async (plan: { descriptor: { digest: string; mediaType: string }; bytes: Buffer }): Promise<void> => {
    if (await venue.headManifest(target.repository, plan.descriptor.digest)) return;
    await venue.putManifest(target.repository, plan.descriptor.digest, plan.bytes, plan.descriptor.mediaType);
    manifestsPushed++;
  };
  if (topManifest.kind === "index") {
    await mapWithConcurrency([...plans, ...extraManifests], concurrency, pushByDigest);
    await pushByDigest({ descriptor: { digest: venueTop.digest, mediaType: venueTop.mediaType }, bytes: venueTop.bytes });
  }
  const tagged = await venue.headManifest(target.repository, target.tag);
  if (tagged?.digest !== venueTop.digest) {
    await venue.putManifest(target.repository, target.tag, venueTop.bytes, venueTop.mediaType);
    manifestsPushed++;
  }

  // 5. The lock fragment.
  let sourceDigest = top.digest;
  if (options.seedFrom) {
    const original = await sourceDigestFromSeed(options.seedFrom, targetName, top.digest);
    if (original) sourceDigest = original;
    else report(`${targetName}: ${options.seedFrom} serves no lock file naming this image; recording its digest as the source digest`);
  }
  const platforms: LockedPlatform[] = plans.map((plan) => {
    const unique = new Map<string, number>();
    for (const d of [plan.manifest.config, ...plan.manifest.layers]) if (!isForeignLayer(d)) unique.set(d.digest, d.size);
    return {
      platform: plan.platform,
      digest: plan.descriptor.digest,
      mediaType: plan.descriptor.mediaType,
      size: plan.descriptor.size,
      bytes: [...unique.values()].reduce((a, b) => a + b, 0),
      blobs: [...unique].map(([digest, size]) => ({ digest, size })),
    };
  });
  const image: LockedImage = {
    target: targetName,
    repository: target.repository,
    tag: target.tag,
    source: formatImageReference(source),
    sourceDigest,
    indexDigest: venueTop.digest,
    mediaType: venueTop.mediaType,
    platforms,
    mirroredAt: new Date().toISOString(),
  };
  const fragmentFile = writeLockFragment(lockDir, image);
  const seconds = (Date.now() - started) / 1000;
  const present = allBlobs.length - missing.length;
  report(
    `${targetName}: done in ${seconds.toFixed(1)} s: copied ${blobsCopied} blobs (${formatBytes(bytesCopied)}${blobsCopied > 0 ? `, ${progress.rate(bytesCopied)}` : ""}), ` +
      `mounted ${blobsMounted}, ${present} already present; ${options.registry}/${target.repository}@${venueTop.digest}`,
  );
  return { image, fragmentFile, bytesCopied, blobsCopied, blobsMounted, blobsPresent: present, manifestsPushed };
}

// ---------------------------------------------------------------------------------------------
// Verify
// ---------------------------------------------------------------------------------------------

export interface VerifyOptions {
  /** images.json */
  images: string;
  registry: string;
  lockDir?: string;
  /** Where venue-lock.json goes when everything is present. */
  out: string;
  /** Venue-wide platforms; an image's own "platforms" in images.json win. Absent: whatever was mirrored. */
  platforms?: string[];
  insecureRegistries?: string[];
  concurrency?: number;
  venueClient?: Partial<RegistryClientOptions>;
}

export interface ImageProblem {
  target: string;
  missing: string[];
  /** The command that repairs it. */
  fix: string;
}

export interface VerifyResult {
  /** How many images images.json lists. */
  imageCount: number;
  problems: ImageProblem[];
  /** Written to `out` only when there are no problems. */
  lock?: VenueLock;
}

function mirrorCommand(entry: ImageListEntry, options: VerifyOptions, platforms: string[]): string {
  const parts = ["npm run venue -- mirror", `--source ${entry.source}`, `--target ${entry.target}`, `--registry ${options.registry}`];
  if (platforms.length > 0) parts.push(`--platforms ${platforms.join(",")}`);
  parts.push(`--lock-dir ${options.lockDir ?? DEFAULT_LOCK_DIR}`);
  return `re-run pulumi up, or: ${parts.join(" ")}`;
}

async function checkImage(venue: RegistryClient, entry: ImageListEntry, wanted: string[], options: VerifyOptions): Promise<{ image?: LockedImage; problem?: ImageProblem }> {
  const lockDir = options.lockDir ?? DEFAULT_LOCK_DIR;
  const fix = mirrorCommand(entry, options, wanted);
  const problem = (missing: string[]): { problem: ImageProblem } => ({ problem: { target: entry.target, missing, fix } });
  let image: LockedImage | undefined;
  try {
    image = readLockFragment(lockDir, entry.target);
  } catch (error) {
    return problem([`its lock fragment is damaged (${(error as Error).message})`]);
  }
  if (!image) return problem([`not mirrored yet: no lock fragment for it in ${lockDir}`]);
  const missing: string[] = [];
  const expectedSource = formatImageReference(entry.sourceReference);
  if (image.source !== expectedSource) missing.push(`images.json names ${expectedSource} but the venue holds ${image.source}`);
  const held = image.platforms.map((p) => p.platform);
  const lacking = wanted.filter((p) => !held.includes(p));
  if (lacking.length > 0) missing.push(`platform ${lacking.join(", ")} was not mirrored (the venue holds ${held.join(", ")})`);
  const extra = wanted.length > 0 ? held.filter((p) => !wanted.includes(p)) : [];
  if (extra.length > 0) missing.push(`platform ${extra.join(", ")} is mirrored but no longer asked for`);

  const where = `${options.registry}/${image.repository}`;
  const tag = await venue.headManifest(image.repository, image.tag);
  if (!tag) missing.push(`tag ${image.tag} is missing from ${where}`);
  else if (tag.digest !== image.indexDigest) missing.push(`tag ${image.tag} in ${where} points to ${tag.digest}, but the lock fragment says ${image.indexDigest}`);
  if (image.indexDigest !== image.platforms[0]?.digest && !(await venue.headManifest(image.repository, image.indexDigest))) {
    missing.push(`index ${image.indexDigest} is missing from ${where}`);
  }
  const checks: Array<{ kind: "manifest" | "blob"; digest: string; platform: string }> = [];
  const seenBlobs = new Set<string>();
  for (const platform of image.platforms) {
    checks.push({ kind: "manifest", digest: platform.digest, platform: platform.platform });
    for (const blob of platform.blobs) {
      if (seenBlobs.has(blob.digest)) continue;
      seenBlobs.add(blob.digest);
      checks.push({ kind: "blob", digest: blob.digest, platform: platform.platform });
    }
  }
  const results = await mapWithConcurrency(checks, options.concurrency ?? 8, async (check) =>
    check.kind === "manifest" ? (await venue.headManifest(image!.repository, check.digest)) !== undefined : (await venue.headBlob(image!.repository, check.digest)) !== undefined,
  );
  checks.forEach((check, i) => {
    if (!results[i]) missing.push(`${check.platform} ${check.kind} ${check.digest} is missing from ${where}`);
  });
  return missing.length > 0 ? problem(missing) : { image };
}

/**
 * Checks that every image of images.json, every platform and every blob is in the venue with the
 * digests its lock fragment recorded; when all are, writes the venue lock file to `out`.
 */
export async function verifyVenue(options: VerifyOptions): Promise<VerifyResult> {
  const entries = readImageList(options.images);
  const venuePlatforms = (options.platforms ?? []).map((p) => {
    try {
      parsePlatform(p);
    } catch (error) {
      throw new MirrorInputError((error as Error).message);
    }
    return normalizePlatformText(p);
  });
  const venue = new RegistryClient({ registry: options.registry, insecureRegistries: options.insecureRegistries, ...options.venueClient });
  await venue.ping();
  const images: LockedImage[] = [];
  const problems: ImageProblem[] = [];
  // Images one at a time, their checks in parallel: bounded, and problems come out in file order.
  for (const entry of entries) {
    const wanted = platformsFor(entry, venuePlatforms);
    const checked = await checkImage(venue, entry, wanted, options);
    if (checked.problem) problems.push(checked.problem);
    if (checked.image) images.push(checked.image);
  }
  if (problems.length > 0) return { imageCount: entries.length, problems };
  const platforms = venuePlatforms.length > 0 ? venuePlatforms : [...new Set(images.flatMap((i) => i.platforms.map((p) => p.platform)))].sort();
  const lock = buildLock(images, platforms);
  writeLock(options.out, lock);
  return { imageCount: entries.length, problems, lock };
}

/** The text `venue verify` prints when something is missing. */
export function describeProblems(problems: ImageProblem[], registry: string, total: number): string {
  const lines = [`${problems.length} of ${total} image${total === 1 ? "" : "s"} incomplete in ${registry}; the venue lock file was not written:`];
  for (const problem of problems) {
    lines.push(`  ${problem.target}:`);
    for (const item of problem.missing) lines.push(`    - ${item}`);
    lines.push(`    fix: ${problem.fix}`);
  }
  return lines.join("\n");
}

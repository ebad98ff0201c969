/**
 * The venue lock file: what the venue holds, by digest. The mirror writes one fragment per image
 * (mirroring resources run in parallel, so no two write the same file); `venue verify` assembles
 * them into venue-lock.json, which the front door serves at /attendee/venue-lock.json and which the
 * attendee CLI and the dashboard read.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { writeFileAtomically } from "./atomic-file";
import { parseJsonText } from "./json-text";

export const LOCK_SCHEMA_VERSION = 1;
export const LOCK_FILE_NAME = "venue-lock.json";
/** Where the front door serves the lock file. */
export const LOCK_URL_PATH = `/attendee/${LOCK_FILE_NAME}`;

const digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256:<64 hex>");

const platformSchema = z.object({
  /** "linux/amd64" */
  platform: z.string(),
  /** The platform's manifest in the venue. */
  digest,
  mediaType: z.string(),
  /** Size of the manifest itself in bytes. */
  size: z.number().int().nonnegative(),
  /** Config plus layers, each counted once: what one attendee on this platform downloads. */
  bytes: z.number().int().nonnegative(),
  /** Config and layer digests, for de-duplicating across images. */
  blobs: z.array(z.object({ digest, size: z.number().int().nonnegative() })),
});

const imageSchema = z.object({
  /** Venue name, "workshop/postgres:15-alpine". */
  target: z.string(),
  repository: z.string(),
  tag: z.string(),
  /** Canonical source, "docker.io/library/postgres:15-alpine": where attendees fall back to. */
  source: z.string(),
  /** The source's top digest when mirrored; equal to indexDigest when every platform was kept. */
  sourceDigest: digest,
  /** The venue's top digest (index, or single manifest). Attendees pull by this. */
  indexDigest: digest,
  mediaType: z.string(),
  platforms: z.array(platformSchema).min(1),
  mirroredAt: z.string(),
});

const lockSchema = z.object({
  schemaVersion: z.literal(LOCK_SCHEMA_VERSION),
  generatedAt: z.string(),
  platforms: z.array(z.string()),
  images: z.array(imageSchema),
  /** Per platform: unique bytes over all images (shared layers counted once). */
  totals: z.record(z.string(), z.number().int().nonnegative()),
});

export type LockedPlatform = z.infer<typeof platformSchema>;
export type LockedImage = z.infer<typeof imageSchema>;
export type VenueLock = z.infer<typeof lockSchema>;

export function validateLock(data: unknown, where = LOCK_FILE_NAME): VenueLock {
  const result = lockSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new Error(`${where} is not a venue lock file: ${problems.slice(0, 5).join("; ")}`);
  }
  return result.data;
}

export function validateLockedImage(data: unknown, where: string): LockedImage {
  const result = imageSchema.safeParse(data);
  if (!result.success) {
    throw new Error(`${where} is not a lock fragment: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return result.data;
}

/** Unique bytes per platform across all images: shared base layers are downloaded once. */
export function computeTotals(images: LockedImage[]): Record<string, number> {
  const perPlatform = new Map<string, Map<string, number>>();
  for (const image of images) {
    for (const p of image.platforms) {
      const blobs = perPlatform.get(p.platform) ?? new Map<string, number>();
      for (const b of p.blobs) blobs.set(b.digest, b.size);
      perPlatform.set(p.platform, blobs);
    }
  }
  const totals: Record<string, number> = {};
  for (const [platform, blobs] of perPlatform) totals[platform] = [...blobs.values()].reduce((a, b) => a + b, 0);
  return totals;
}

export function buildLock(images: LockedImage[], platforms: string[], now = new Date()): VenueLock {
  const sorted = [...images].sort((a, b) => a.target.localeCompare(b.target));
  return { schemaVersion: LOCK_SCHEMA_VERSION, generatedAt: now.toISOString(), platforms, images: sorted, totals: computeTotals(sorted) };
}

export function fragmentFileName(target: string): string {
  return `${target.replace(/[^A-Za-z0-9_.-]+/g, "_")}.json`;
}

export function writeLockFragment(lockDir: string, image: LockedImage): string {
  const file = path.join(lockDir, fragmentFileName(image.target));
  writeFileAtomically(file, `${JSON.stringify(image, null, 2)}\n`);
  return file;
}

export function readLockFragment(lockDir: string, target: string): LockedImage | undefined {
  const file = path.join(lockDir, fragmentFileName(target));
  if (!fs.existsSync(file)) return undefined;
  return validateLockedImage(parseJsonText(fs.readFileSync(file, "utf8"), file), file);
}

export function writeLock(file: string, lock: VenueLock): void {
  writeFileAtomically(file, `${JSON.stringify(lock, null, 2)}\n`);
}

export function readLock(file: string): VenueLock {
  return validateLock(parseJsonText(fs.readFileSync(file, "utf8"), file), file);
}

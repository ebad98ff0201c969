/**
 * images.json: the workshop's images, what attendees call them in the venue, and optionally which
 * platforms to keep. Every problem is reported at once, each with the entry's index and field.
 */
import * as fs from "fs";
import { z } from "zod";
import { InvalidReferenceError, ImageReference, parseImageReference, parseRepositoryAndTag } from "./image-reference";
import { JsonSyntaxError, parseJsonText } from "./json-text";
import { KNOWN_PLATFORMS, isKnownPlatform, normalizePlatformText } from "./platform";

export interface ImageListEntry {
  /** As written, e.g. "postgres:15-alpine". */
  source: string;
  sourceReference: ImageReference;
  /** Venue name, e.g. "workshop/postgres:15-alpine". */
  target: string;
  targetRepository: string;
  targetTag: string;
  /** Only when the entry narrows the venue-wide platforms. */
  platforms?: string[];
}

export class ImageListError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file} has ${problems.length === 1 ? "a problem" : `${problems.length} problems`}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ImageListError";
  }
}

const entrySchema = z
  .object({
    source: z.string({ required_error: "is required (the image to mirror, e.g. \"postgres:15-alpine\")" }),
    target: z.string({ required_error: "is required (the venue name, e.g. \"workshop/postgres:15-alpine\")" }),
    platforms: z.array(z.string()).nonempty("must list at least one platform, or be left out").optional(),
    description: z.string().optional(),
  })
  .strict();

const fileSchema = z
  .object({
    $schema: z.string().optional(),
    images: z.array(z.unknown()).min(1, "is empty: list at least one image"),
  })
  .strict();

function describeIssue(issue: z.ZodIssue, prefix: string): string {
  const where = [prefix, ...issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`))].join("").replace(/^\./, "");
  if (issue.code === "unrecognized_keys") return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "invalid_type" && issue.received === "undefined") return `${where} ${issue.message}`;
  if (issue.code === "invalid_type") return `${where}: must be ${issue.expected}, not ${issue.received}`;
  return `${where} ${issue.message}`;
}

/** Validates already-parsed JSON. `file` names the source in messages. */
export function validateImageList(data: unknown, file = "images.json"): ImageListEntry[] {
  const top = fileSchema.safeParse(data);
  if (!top.success) {
    const problems = top.error.issues.map((issue) => describeIssue(issue, ""));
    if (Array.isArray(data)) problems.unshift('the file must be an object: { "images": [ ... ] }');
    throw new ImageListError(file, problems);
  }
  const problems: string[] = [];
  const entries: ImageListEntry[] = [];
  const targets = new Map<string, number>();
  top.data.images.forEach((raw, index) => {
    const at = `images[${index}]`;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(describeIssue(issue, at));
    }
    // Fields that are present are still checked, so one run reports everything wrong with an entry.
    const fields = (raw !== null && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
    const entry = {
      source: typeof fields.source === "string" ? fields.source : undefined,
      target: typeof fields.target === "string" ? fields.target : undefined,
      platforms: Array.isArray(fields.platforms) ? fields.platforms.filter((p): p is string => typeof p === "string") : undefined,
    };
    let sourceReference: ImageReference | undefined;
    if (entry.source !== undefined) {
      try {
        sourceReference = parseImageReference(entry.source);
      } catch (error) {
        problems.push(`${at}.source: ${(error as Error).message}`);
      }
    }
    let target: { repository: string; tag: string } | undefined;
    if (entry.target !== undefined) {
      try {
        if (/^[^/]*[.:][^/]*\//.test(entry.target) || entry.target.startsWith("localhost/")) {
          throw new InvalidReferenceError(entry.target, "a venue name has no registry host; write e.g. workshop/postgres:15-alpine");
        }
        target = parseRepositoryAndTag(entry.target);
      } catch (error) {
        problems.push(`${at}.target: ${(error as Error).message}`);
      }
    }
    const platforms = entry.platforms?.map(normalizePlatformText);
    entry.platforms?.forEach((platform, i) => {
      if (!isKnownPlatform(platform)) {
        problems.push(`${at}.platforms[${i}]: unknown platform "${platform}"; use one of ${KNOWN_PLATFORMS.join(", ")}`);
      }
    });
    if (target) {
      const key = `${target.repository}:${target.tag}`;
      const first = targets.get(key);
      if (first !== undefined) problems.push(`${at}.target: "${key}" is already the target of images[${first}]; each venue name must be unique`);
      else targets.set(key, index);
    }
    if (parsed.success && entry.source !== undefined && entry.target !== undefined && sourceReference && target) {
      entries.push({
        source: entry.source,
        sourceReference,
        target: `${target.repository}:${target.tag}`,
        targetRepository: target.repository,
        targetTag: target.tag,
        platforms: platforms ? [...new Set(platforms)] : undefined,
      });
    }
  });
  if (problems.length > 0) throw new ImageListError(file, problems);
  return entries;
}

export function parseImageList(text: string, file = "images.json"): ImageListEntry[] {
  try {
    return validateImageList(parseJsonText(text, file), file);
  } catch (error) {
    if (error instanceof JsonSyntaxError) throw new ImageListError(file, [error.message]);
    throw error;
  }
}

export function readImageList(file: string): ImageListEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageListError(file, [code === "ENOENT" ? "the file does not exist; create it or pass --images with its path" : `cannot be read (${code})`]);
  }
  return parseImageList(text, file);
}

/** The platforms to mirror for one entry: its own list, else the venue-wide default. */
export function platformsFor(entry: ImageListEntry, venuePlatforms: string[]): string[] {
  return entry.platforms ?? venuePlatforms.map(normalizePlatformText);
}

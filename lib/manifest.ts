/**
 * Image manifests and indexes as registries serve them: the four media types, parsing into what a
 * copy needs (child manifests, config and layers), and choosing platforms from an index. Manifest
 * bytes are never re-serialised here except when building a filtered index, because a manifest's
 * digest is the hash of its exact bytes.
 */
import * as crypto from "crypto";
import { Platform, formatPlatform, normalizePlatformText } from "./platform";

export const ManifestMediaType = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
} as const;

/** What we send as Accept: every manifest type we can copy, so no registry down-converts to schema 1. */
export const MANIFEST_ACCEPT = [
  ManifestMediaType.ociIndex,
  ManifestMediaType.dockerManifestList,
  ManifestMediaType.ociManifest,
  ManifestMediaType.dockerManifest,
].join(", ");

const INDEX_TYPES: readonly string[] = [ManifestMediaType.ociIndex, ManifestMediaType.dockerManifestList];
const IMAGE_TYPES: readonly string[] = [ManifestMediaType.ociManifest, ManifestMediaType.dockerManifest];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  platform?: Platform & { "os.version"?: string; "os.features"?: string[]; features?: string[] };
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: "image";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export type Manifest = ImageIndex | ImageManifest;

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.includes(mediaType);
}

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Descriptor;
  return (
    typeof d === "object" &&
    d !== null &&
    typeof d.digest === "string" &&
    /^sha256:[a-f0-9]{64}$/.test(d.digest) &&
    typeof d.size === "number" &&
    Number.isInteger(d.size) &&
    d.size >= 0
  );
}

/**
 * Parses manifest bytes. `contentType` is the registry's Content-Type header; the document's own
 * mediaType wins when present (some registries answer with a generic type). `where` names the
 * manifest in errors.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, where: string): Manifest {
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new ManifestError(`the manifest of ${where} is not JSON`);
  }
  if (typeof document !== "object" || document === null) throw new ManifestError(`the manifest of ${where} is not a JSON object`);
  if (document.schemaVersion === 1) {
    throw new ManifestError(
      `${where} is a Docker schema 1 manifest, which registries no longer accept; rebuild or re-push the image with a current Docker`,
    );
  }
  const declared = typeof document.mediaType === "string" ? document.mediaType : undefined;
  let mediaType = declared ?? contentType?.split(";")[0].trim() ?? "";
  // OCI documents may omit mediaType; their shape says which they are.
  if (!INDEX_TYPES.includes(mediaType) && !IMAGE_TYPES.includes(mediaType)) {
    if (Array.isArray(document.manifests)) mediaType = ManifestMediaType.ociIndex;
    else if (document.config && Array.isArray(document.layers)) mediaType = ManifestMediaType.ociManifest;
    else throw new ManifestError(`${where} has media type "${mediaType || "(none)"}", which is not an image manifest or index`);
  }
  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = document.manifests;
    if (!Array.isArray(manifests) || !manifests.every(isDescriptor)) {
      throw new ManifestError(`the index of ${where} has a malformed "manifests" list`);
    }
    return { kind: "index", mediaType, manifests };
  }
  const { config, layers } = document;
  if (!isDescriptor(config) || !Array.isArray(layers) || !layers.every(isDescriptor)) {
    throw new ManifestError(`the manifest of ${where} has a malformed config or layer list`);
  }
  return { kind: "image", mediaType, config, layers };
}

/** "linux/amd64" for an index entry, or undefined when it names no platform. */
export function descriptorPlatform(descriptor: Descriptor): string | undefined {
  const p = descriptor.platform;
  if (!p || typeof p.os !== "string" || typeof p.architecture !== "string") return undefined;
  return formatPlatform({ os: p.os, architecture: p.architecture, variant: p.variant });
}

/**
 * BuildKit's provenance and SBOM manifests sit in the index as "unknown/unknown" entries pointing at
 * the image they describe. They are not runnable platforms, but travel with the image they attest.
 */
export function attestedDigest(descriptor: Descriptor): string | undefined {
  if (descriptor.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest") return undefined;
  return descriptor.annotations["vnd.docker.reference.digest"];
}

/** Layers with `urls` (Windows base layers) are not stored by registries and must not be copied. */
export function isForeignLayer(descriptor: Descriptor): boolean {
  return /foreign|nondistributable/.test(descriptor.mediaType) && Array.isArray(descriptor.urls) && descriptor.urls.length > 0;
}

export interface PlatformSelection {
  /** Index entries to copy, in the index's order: wanted platforms and their attestations. */
  kept: Descriptor[];
  /** True when nothing was dropped, so the original index bytes (and digest) are kept. */
  complete: boolean;
  /** Every platform the index offers, for messages. */
  available: string[];
  /** Wanted platforms the index does not offer. */
  missing: string[];
}

/**
 * Chooses the entries of an index for the wanted platforms (all platforms when `wanted` is empty).
 * "linux/arm64" and "linux/arm64/v8" are the same platform.
 */
export function selectPlatforms(index: ImageIndex, wanted: readonly string[]): PlatformSelection {
  const wantedSet = new Set(wanted.map(normalizePlatformText));
  const available = [...new Set(index.manifests.map(descriptorPlatform).filter((p): p is string => !!p && p !== "unknown/unknown"))];
  const keptDigests = new Set<string>();
  for (const descriptor of index.manifests) {
    const platform = descriptorPlatform(descriptor);
    if (attestedDigest(descriptor) || !platform || platform === "unknown/unknown") continue;
    if (wantedSet.size === 0 || wantedSet.has(platform)) keptDigests.add(descriptor.digest);
  }
  const kept = index.manifests.filter((descriptor) => {
    if (wantedSet.size === 0) return true;
    const attests = attestedDigest(descriptor);
    return attests ? keptDigests.has(attests) : keptDigests.has(descriptor.digest);
  });
  const missing = [...wantedSet].filter((p) => !available.includes(p));
  return { kept, complete: kept.length === index.manifests.length, available, missing };
}

/**
 * A new index holding only the kept entries, copied as they were; every other top-level field of
 * the original (annotations, subject...) is kept too.
 */
export function buildFilteredIndex(originalBytes: Buffer, kept: Descriptor[]): Buffer {
  const document = JSON.parse(originalBytes.toString("utf8")) as Record<string, unknown>;
  const byDigest = new Map<string, unknown>();
  for (const entry of document.manifests as Array<{ digest: string }>) byDigest.set(entry.digest, entry);
  document.manifests = kept.map((descriptor) => byDigest.get(descriptor.digest) ?? descriptor);
  return Buffer.from(JSON.stringify(document));
}

/** The platform an image config declares ("linux/amd64"), for single-manifest images. */
export function configPlatform(configBytes: Buffer): string | undefined {
  try {
    const config = JSON.parse(configBytes.toString("utf8")) as { os?: unknown; architecture?: unknown; variant?: unknown };
    if (typeof config.os !== "string" || typeof config.architecture !== "string") return undefined;
    return formatPlatform({ os: config.os, architecture: config.architecture, variant: typeof config.variant === "string" ? config.variant : undefined });
  } catch {
    return undefined;
  }
}

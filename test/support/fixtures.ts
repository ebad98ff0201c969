/**
 * Small, real container images that the tests build themselves: gzip tar layers made with GNU tar and
 * gzip, OCI and Docker schema-2 manifests, and multi-platform indexes. The linux/amd64 variants carry
 * Debian's static busybox, so the real dockerd can run them. Builds are deterministic: the same
 * fixture always has the same digests.
 *
 * Pushing uses the plain distribution API (monolithic PUT); it is test set-up, not the code under test.
 */
import { execFileSync, execSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { LockedPlatform } from "../../lib/venue-lock";
import { makeTempDir, requireProgram } from "./services";

export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export interface FixtureBlob {
  digest: string;
  size: number;
  mediaType: string;
  data: Buffer;
}

export interface FixturePlatformImage {
  platform: string;
  manifestDigest: string;
  manifestMediaType: string;
  manifest: Buffer;
  config: FixtureBlob;
  layers: FixtureBlob[];
}

export interface FixtureImage {
  repository: string;
  tag: string;
  /** Digest of the index (multi-platform) or of the single manifest. */
  digest: string;
  mediaType: string;
  /** The bytes pushed under the tag. */
  topManifest: Buffer;
  platforms: FixturePlatformImage[];
}

export interface FixtureImageSpec {
  repository: string;
  tag: string;
  /** "oci" uses OCI media types, "docker" Docker schema 2. */
  format: "oci" | "docker";
  /** Platforms such as "linux/amd64", "linux/arm/v7". One platform and single=true gives a plain manifest. */
  platforms: string[];
  single?: boolean;
  /** Bytes of incompressible data in the image's own layer (per platform), for size-sensitive tests. */
  payloadBytes?: number;
  /** Text written into /etc/fixture-name, which `docker run IMAGE cat /etc/fixture-name` prints. */
  label?: string;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;
}

/** Deterministic pseudo-random bytes (a SHA-256 counter stream), so payload digests are stable. */
export function deterministicBytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let offset = 0;
  let counter = 0;
  while (offset < length) {
    const block = crypto.createHash("sha256").update(`${seed}:${counter++}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

function tarGzip(dir: string): { gz: Buffer; diffId: string } {
  requireProgram("tar", "tar");
  requireProgram("gzip", "gzip");
  const tar = execFileSync(
    "tar",
    ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=gnu", "-C", dir, "-cf", "-", "."],
    { maxBuffer: 1 << 30 },
  );
  const gz = execFileSync("gzip", ["-n", "-6"], { input: tar, maxBuffer: 1 << 30 });
  return { gz, diffId: sha256(tar) };
}

let busyboxLayerCache: { gz: Buffer; diffId: string } | undefined;

function busyboxLayer(): { gz: Buffer; diffId: string } {
  if (busyboxLayerCache) return busyboxLayerCache;
  const busybox = requireProgram("busybox", "busybox-static");
  const root = makeTempDir("layer-busybox");
  fs.mkdirSync(path.join(root, "bin"));
  fs.mkdirSync(path.join(root, "etc"));
  fs.copyFileSync(busybox, path.join(root, "bin", "busybox"));
  fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
  for (const applet of ["sh", "cat", "echo", "ls", "sleep", "uname", "wc"]) {
    fs.symlinkSync("busybox", path.join(root, "bin", applet));
  }
  busyboxLayerCache = tarGzip(root);
  return busyboxLayerCache;
}

function appLayer(spec: FixtureImageSpec, platform: string): { gz: Buffer; diffId: string } {
  const root = makeTempDir("layer-app");
  fs.mkdirSync(path.join(root, "etc"));
  fs.writeFileSync(path.join(root, "etc", "fixture-name"), `${spec.label ?? `${spec.repository}:${spec.tag}`} ${platform}\n`);
  if (spec.payloadBytes && spec.payloadBytes > 0) {
    fs.mkdirSync(path.join(root, "data"));
    fs.writeFileSync(
      path.join(root, "data", "payload.bin"),
      deterministicBytes(`${spec.repository}:${spec.tag}:${platform}`, spec.payloadBytes),
    );
  }
  return tarGzip(root);
}

function blob(data: Buffer, mediaType: string): FixtureBlob {
  return { digest: sha256(data), size: data.length, mediaType, data };
}

function parsePlatform(platform: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = platform.split("/");
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function buildFixtureImage(spec: FixtureImageSpec): FixtureImage {
  const types =
    spec.format === "oci"
      ? { index: MediaType.ociIndex, manifest: MediaType.ociManifest, config: MediaType.ociConfig, layer: MediaType.ociLayerGzip }
      : { index: MediaType.dockerList, manifest: MediaType.dockerManifest, config: MediaType.dockerConfig, layer: MediaType.dockerLayerGzip };
  const base = busyboxLayer();
  const platforms: FixturePlatformImage[] = spec.platforms.map((platform) => {
    const app = appLayer(spec, platform);
    const layers = [blob(base.gz, types.layer), blob(app.gz, types.layer)];
    const configJson = {
      ...parsePlatform(platform),
      created: "1970-01-01T00:00:00Z",
      config: { Cmd: ["/bin/cat", "/etc/fixture-name"], Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: [base.diffId, app.diffId] },
      history: [{ created: "1970-01-01T00:00:00Z", created_by: "venue-registry test fixture" }],
    };
    const config = blob(Buffer.from(JSON.stringify(configJson)), types.config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: types.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
    return { platform, manifestDigest: sha256(manifest), manifestMediaType: types.manifest, manifest, config, layers };
  });

  if (spec.single) {
    if (platforms.length !== 1) throw new Error("a single-manifest fixture has exactly one platform");
    return {
      repository: spec.repository,
      tag: spec.tag,
      digest: platforms[0].manifestDigest,
      mediaType: types.manifest,
      topManifest: platforms[0].manifest,
      platforms,
    };
  }
  // Indented, as some real registries' indexes are: a copy must keep these bytes, not re-serialise.
  const index = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: types.index,
        manifests: platforms.map((p) => ({
          mediaType: p.manifestMediaType,
          digest: p.manifestDigest,
          size: p.manifest.length,
          platform: parsePlatform(p.platform),
        })),
      },
      null,
      3,
    ),
  );
  return { repository: spec.repository, tag: spec.tag, digest: sha256(index), mediaType: types.index, topManifest: index, platforms };
}

/** The default fixture set: a small "workshop" with shared base layers and several formats. */
export const defaultFixtureSpecs: FixtureImageSpec[] = [
  { repository: "library/hello", tag: "1.0", format: "oci", platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"], payloadBytes: 64 * 1024 },
  { repository: "library/tools", tag: "2-alpine", format: "docker", platforms: ["linux/amd64", "linux/arm64"], payloadBytes: 128 * 1024 },
  { repository: "team/app", tag: "latest", format: "oci", platforms: ["linux/amd64"], single: true, payloadBytes: 32 * 1024 },
];

export function buildFixtureSet(specs: FixtureImageSpec[] = defaultFixtureSpecs): FixtureImage[] {
  return specs.map(buildFixtureImage);
}

async function putBlob(registryUrl: string, repository: string, b: FixtureBlob): Promise<void> {
  const head = await fetch(`${registryUrl}/v2/${repository}/blobs/${b.digest}`, { method: "HEAD" });
  if (head.status === 200) return;
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: "POST" });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`upload start for ${repository} failed: ${start.status}`);
  const location = new URL(start.headers.get("location")!, registryUrl);
  location.searchParams.set("digest", b.digest);
  const put = await fetch(location, {
    method: "PUT",
    body: b.data,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(b.size) },
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`blob PUT ${b.digest} to ${repository} failed: ${put.status} ${text}`);
}

async function putManifest(registryUrl: string, repository: string, reference: string, body: Buffer, mediaType: string): Promise<void> {
  const response = await fetch(`${registryUrl}/v2/${repository}/manifests/${reference}`, {
    method: "PUT",
    body,
    headers: { "Content-Type": mediaType },
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`manifest PUT ${repository}:${reference} failed: ${response.status} ${text}`);
}

/** Pushes images into a registry at e.g. http://127.0.0.1:5555, keeping every digest. */
export async function pushFixtures(registryUrl: string, images: FixtureImage[], repositoryPrefix = ""): Promise<void> {
  for (const image of images) {
    const repository = `${repositoryPrefix}${image.repository}`;
    for (const platform of image.platforms) {
      for (const b of [...platform.layers, platform.config]) await putBlob(registryUrl, repository, b);
      await putManifest(registryUrl, repository, platform.manifestDigest, platform.manifest, platform.manifestMediaType);
    }
    await putManifest(registryUrl, repository, image.tag, image.topManifest, image.mediaType);
  }
}

/** Total bytes (config + layers, deduplicated) of one platform, as a lock file would count them. */
export function platformBytes(image: FixtureImage, platform: string): number {
  const p = image.platforms.find((x) => x.platform === platform);
  if (!p) throw new Error(`${image.repository} has no ${platform}`);
  const seen = new Map<string, number>();
  for (const b of [p.config, ...p.layers]) seen.set(b.digest, b.size);
  return [...seen.values()].reduce((a, b) => a + b, 0);
}

/** The lock file's description of each platform of a fixture (lib/venue-lock.ts LockedPlatform). */
export function lockedPlatformsOf(image: FixtureImage): LockedPlatform[] {
  return image.platforms.map((p) => ({
    platform: p.platform,
    digest: p.manifestDigest,
    mediaType: p.manifestMediaType,
    size: p.manifest.length,
    bytes: platformBytes(image, p.platform),
    blobs: [p.config, ...p.layers].map((b) => ({ digest: b.digest, size: b.size })),
  }));
}

/** Writes a sparse file of the given size: large-blob tests need > 1 GiB without using the disk. */
export function sparseFile(file: string, size: number): void {
  execSync(`truncate -s ${size} ${JSON.stringify(file)}`);
}

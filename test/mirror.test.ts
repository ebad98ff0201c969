import { expect } from "chai";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { lookupCredentials } from "../lib/docker-credentials";
import { MirrorInputError, MirrorResult, mirrorImage, verifyVenue } from "../lib/mirror";
import { DigestMismatchError, RegistryClient } from "../lib/registry-client";
import { LockedImage, readLock, readLockFragment } from "../lib/venue-lock";
import { FixtureImage, buildFixtureImage, buildFixtureSet, lockedPlatformsOf, pushFixtures, sha256 } from "./support/fixtures";
import { RunningRegistry, makeTempDir, requireProgram, sharedDockerdInstance, startRegistry } from "./support/services";
import { startTokenIssuer } from "./support/token-issuer";
import { rejection } from "./support/rejection";

const repoRoot = path.resolve(__dirname, "..");

function skopeoRaw(reference: string): Buffer {
  requireProgram("skopeo", "skopeo");
  const result = spawnSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reference}`], { timeout: 60_000 });
  if (result.status !== 0) throw new Error(`skopeo inspect --raw ${reference} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

function expectedLock(image: FixtureImage, target: string, source: string): Omit<LockedImage, "mirroredAt"> {
  const [repository, tag] = target.split(":");
  return {
    target,
    repository,
    tag,
    source,
    sourceDigest: image.digest,
    indexDigest: image.digest,
    mediaType: image.mediaType,
    platforms: lockedPlatformsOf(image),
  };
}

function withoutTime(image: LockedImage): Omit<LockedImage, "mirroredAt"> {
  const { mirroredAt, ...rest } = image;
  expect(Date.parse(mirroredAt)).to.be.closeTo(Date.now(), 120_000);
  return rest;
}

function runVenueCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(repoRoot, "facilitator/venue.ts"), ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 90_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("mirror @system", function () {
  let upstream: RunningRegistry;
  let venue: RunningRegistry;
  let images: FixtureImage[];
  let lockDir: string;
  const lines: string[] = [];
  const report = (line: string): void => {
    lines.push(line);
  };
  const targets = ["workshop/hello:1.0", "workshop/tools:2-alpine", "workshop/app:latest"];
  const first: MirrorResult[] = [];

  before(async () => {
    [upstream, venue] = await Promise.all([startRegistry(), startRegistry()]);
    images = buildFixtureSet();
    await pushFixtures(upstream.url, images);
    lockDir = makeTempDir("locks");
    for (const [i, image] of images.entries()) {
      first.push(await mirrorImage({ source: `${upstream.host}/${image.repository}:${image.tag}`, target: targets[i], registry: venue.host, lockDir, report }));
    }
  });

  it("keeps every platform and the index digest byte for byte (skopeo inspect --raw)", () => {
    for (const [i, image] of images.entries()) {
      const venueRaw = skopeoRaw(`${venue.host}/${targets[i]}`);
      const sourceRaw = skopeoRaw(`${upstream.host}/${image.repository}:${image.tag}`);
      expect(sha256(venueRaw)).to.equal(sha256(sourceRaw));
      expect(venueRaw.equals(image.topManifest)).to.equal(true);
    }
  });

  it("writes a lock fragment with every field of the image", () => {
    for (const [i, image] of images.entries()) {
      expect(withoutTime(first[i].image)).to.deep.equal(expectedLock(image, targets[i], `${upstream.host}/${image.repository}:${image.tag}`));
      expect(readLockFragment(lockDir, targets[i])).to.deep.equal(first[i].image);
    }
  });

  it("copies each blob once and mounts blobs another venue repository already holds", () => {
    const hello = images[0];
    const helloBlobs = new Map(hello.platforms.flatMap((p) => [p.config, ...p.layers]).map((b) => [b.digest, b.size]));
    expect(first[0].blobsCopied).to.equal(helloBlobs.size);
    expect(first[0].bytesCopied).to.equal([...helloBlobs.values()].reduce((a, b) => a + b, 0));
    // tools and app share the busybox layer with hello: mounted, not sent again.
    expect(first[1].blobsMounted).to.equal(1);
    expect(first[2].blobsMounted).to.equal(1);
  });

  it("prints progress a person can follow: image, bytes, rate", () => {
    const hello = lines.filter((line) => line.startsWith("workshop/hello:1.0: "));
    expect(hello[0]).to.equal(`workshop/hello:1.0: mirroring ${upstream.host}/library/hello:1.0 into ${venue.host}/workshop/hello:1.0 (all platforms)`);
    expect(hello[1]).to.match(/^workshop\/hello:1\.0: 7 blobs \(1\.\d+ MB\) for linux\/amd64, linux\/arm64, linux\/arm\/v7; 0 already in the venue, copying 7 \(1\.\d+ MB\)$/);
    expect(hello).to.satisfy((all: string[]) => all.some((line) => /^workshop\/hello:1\.0: 1\.\d+ MB \/ 1\.\d+ MB \(100%\) at [\d.]+ [kMG]?B\/s, 7 of 7 blobs$/.test(line)));
    expect(hello[hello.length - 1]).to.match(new RegExp(`^workshop/hello:1\\.0: done in [\\d.]+ s: copied 7 blobs \\(1\\.\\d+ MB, [\\d.]+ [kMG]?B/s\\), mounted 0, 0 already present; ${venue.host}/workshop/hello@${images[0].digest}$`));
  });

  it("lets the real dockerd pull the mirrored image by tag and by digest and run it", async () => {
    const dockerd = await sharedDockerdInstance();
    dockerd.docker(["pull", `${venue.host}/workshop/hello:1.0`]);
    expect(dockerd.docker(["run", "--rm", "--network", "none", `${venue.host}/workshop/hello:1.0`]).trim()).to.equal("library/hello:1.0 linux/amd64");
    dockerd.docker(["pull", `${venue.host}/workshop/tools@${images[1].digest}`]);
    expect(dockerd.docker(["run", "--rm", "--network", "none", `${venue.host}/workshop/tools@${images[1].digest}`]).trim()).to.equal("library/tools:2-alpine linux/amd64");
  });

  it("copies 0 bytes on a second run", async () => {
    for (const [i, image] of images.entries()) {
      const again = await mirrorImage({ source: `${upstream.host}/${image.repository}:${image.tag}`, target: targets[i], registry: venue.host, lockDir, report: () => undefined });
      expect({ bytes: again.bytesCopied, copied: again.blobsCopied, mounted: again.blobsMounted, manifests: again.manifestsPushed }).to.deep.equal({ bytes: 0, copied: 0, mounted: 0, manifests: 0 });
      expect(again.image.indexDigest).to.equal(image.digest);
    }
  });

  it("keeps only the asked platforms, in a new index, and records both digests", async () => {
    const hello = images[0];
    const result = await mirrorImage({ source: `${upstream.host}/library/hello:1.0`, target: "arm/hello:1.0", registry: venue.host, lockDir: makeTempDir("locks"), platforms: ["linux/arm64/v8"], report: () => undefined });
    const raw = skopeoRaw(`${venue.host}/arm/hello:1.0`);
    const index = JSON.parse(raw.toString()) as { mediaType: string; manifests: Array<{ digest: string; platform: { architecture: string } }> };
    const arm = hello.platforms.find((p) => p.platform === "linux/arm64")!;
    expect(index.mediaType).to.equal(hello.mediaType);
    expect(index.manifests.map((m) => m.digest)).to.deep.equal([arm.manifestDigest]);
    expect(result.image.indexDigest).to.equal(sha256(raw)).and.not.equal(hello.digest);
    expect(result.image.sourceDigest).to.equal(hello.digest);
    expect(result.image.platforms.map((p) => p.platform)).to.deep.equal(["linux/arm64"]);
    const client = new RegistryClient({ registry: venue.host });
    const amd = hello.platforms.find((p) => p.platform === "linux/amd64")!;
    expect(await client.headBlob("arm/hello", amd.layers[1].digest)).to.equal(undefined);
    expect(await client.headManifest("arm/hello", amd.manifestDigest)).to.equal(undefined);
  });

  it("refuses platforms the source does not offer, saying what it offers", async () => {
    const error = await rejection(mirrorImage({ source: `${upstream.host}/library/tools:2-alpine`, target: "x/tools:1", registry: venue.host, lockDir, platforms: ["linux/amd64", "linux/s390x"], report: () => undefined }));
    expect(error).to.be.instanceOf(MirrorInputError);
    expect(error.message).to.equal(
      `${upstream.host}/library/tools:2-alpine has no linux/s390x (it offers linux/amd64, linux/arm64). Ask only for what it offers: give this image its own "platforms" in images.json, or change --platforms.`,
    );
  });

  it("reads from another venue with --seed-from while the lock keeps the original source", async () => {
    const second = await startRegistry();
    const result = await mirrorImage({ source: `${upstream.host}/library/hello:1.0`, target: "workshop/hello:1.0", registry: second.host, seedFrom: venue.host, lockDir: makeTempDir("locks"), report });
    expect(withoutTime(result.image)).to.deep.equal(expectedLock(images[0], "workshop/hello:1.0", `${upstream.host}/library/hello:1.0`));
    expect(lines).to.include(`workshop/hello:1.0: mirroring ${venue.host}/workshop/hello:1.0 into ${second.host}/workshop/hello:1.0 (all platforms)`);
  });

  it("refuses a source blob whose bytes do not match its digest and leaves no tag behind", async () => {
    const corrupt = await startRegistry();
    const image = buildFixtureImage({ repository: "library/corrupt", tag: "1", format: "docker", platforms: ["linux/amd64", "linux/arm64"], payloadBytes: 8192 });
    await pushFixtures(corrupt.url, [image]);
    const layer = image.platforms[1].layers[1];
    const hex = layer.digest.slice(7);
    const dataFile = path.join(corrupt.rootDirectory, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const bytes = fs.readFileSync(dataFile);
    bytes[200] ^= 0x01;
    fs.writeFileSync(dataFile, bytes);
    const error = await rejection(mirrorImage({ source: `${corrupt.host}/library/corrupt:1`, target: "workshop/corrupt:1", registry: venue.host, lockDir: makeTempDir("locks"), report: () => undefined }));
    expect(error).to.be.instanceOf(DigestMismatchError);
    expect(error.message).to.contain(`blob ${layer.digest} from ${corrupt.host}/library/corrupt does not match its digest (the bytes hash to ${sha256(bytes)})`);
    const client = new RegistryClient({ registry: venue.host });
    expect(await client.headBlob("workshop/corrupt", layer.digest)).to.equal(undefined);
    expect(await client.headManifest("workshop/corrupt", "1")).to.equal(undefined);
  });

  it("mirrors from a registry behind token auth with the credentials docker login saved", async () => {
    const issuer = await startTokenIssuer({ users: { teacher: "s3cret" } });
    try {
      const secured = await startRegistry({ rootDirectory: upstream.rootDirectory, extraConfig: issuer.registryConfig });
      const dockerConfig = makeTempDir("docker-config");
      fs.writeFileSync(path.join(dockerConfig, "config.json"), JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from("teacher:s3cret").toString("base64") } } }));
      const result = await mirrorImage({
        source: `${secured.host}/library/tools:2-alpine`,
        target: "secured/tools:2-alpine",
        registry: venue.host,
        lockDir: makeTempDir("locks"),
        report: () => undefined,
        sourceClient: { credentials: () => lookupCredentials(secured.host, { configDirectory: dockerConfig }) },
      });
      expect(result.image.indexDigest).to.equal(images[1].digest);
      expect(issuer.requests.every((r) => r.user === "teacher")).to.equal(true);
      expect(issuer.requests.map((r) => r.scopes)).to.deep.include(["repository:library/tools:pull"]);
    } finally {
      await issuer.stop();
    }
  });

  it("completes a run that was killed half way, keeping the blobs already copied", async function () {
    const big = buildFixtureImage({ repository: "library/big", tag: "1", format: "oci", platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"], payloadBytes: 12 * 1024 * 1024 });
    await pushFixtures(upstream.url, [big]);
    const killLockDir = makeTempDir("locks");
    const child = spawn(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", "facilitator/venue.ts", "mirror", "--source", `${upstream.host}/library/big:1`, "--target", "workshop/big:1", "--registry", venue.host, "--lock-dir", killLockDir, "--concurrency", "1", "--progress-interval", "0.05"],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      // Killed right after the first whole layer landed: the others are still to come.
      if (/copied blob/.test(output)) child.kill("SIGKILL");
    });
    const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
    expect(await exited).to.equal("SIGKILL");
    clearTimeout(deadline);
    expect(output).to.contain("workshop/big:1: copied blob");

    const client = new RegistryClient({ registry: venue.host });
    expect(await client.headManifest("workshop/big", "1")).to.equal(undefined);
    expect(fs.existsSync(path.join(killLockDir, "workshop_big_1.json"))).to.equal(false);
    const payloadLayers = big.platforms.map((p) => p.layers[1]);
    const landed = (await Promise.all(payloadLayers.map((l) => client.headBlob("workshop/big", l.digest)))).filter((size) => size !== undefined);
    expect(landed.length).to.be.within(1, 2);

    const resumed = await mirrorImage({ source: `${upstream.host}/library/big:1`, target: "workshop/big:1", registry: venue.host, lockDir: killLockDir, report: () => undefined });
    expect(resumed.blobsPresent).to.be.at.least(landed.length);
    expect(resumed.image.indexDigest).to.equal(big.digest);
    const everything = new Map(big.platforms.flatMap((p) => [p.config, ...p.layers]).map((b) => [b.digest, b.size]));
    expect(resumed.bytesCopied).to.be.below([...everything.values()].reduce((a, b) => a + b, 0));
    for (const [digest, size] of everything) expect(await client.headBlob("workshop/big", digest)).to.equal(size);
    expect(sha256(skopeoRaw(`${venue.host}/workshop/big:1`))).to.equal(big.digest);
  });

  describe("verify", () => {
    function imagesJson(entries: Array<{ source: string; target: string; platforms?: string[] }>): string {
      const file = path.join(makeTempDir("images"), "images.json");
      fs.writeFileSync(file, JSON.stringify({ images: entries }, null, 2));
      return file;
    }

    it("writes the venue lock file when every image, platform and blob is present", async () => {
      const file = imagesJson(images.map((image, i) => ({ source: `${upstream.host}/${image.repository}:${image.tag}`, target: targets[i] })));
      const out = path.join(makeTempDir("www"), "venue-lock.json");
      const result = await verifyVenue({ images: file, registry: venue.host, lockDir, out });
      expect(result.problems).to.deep.equal([]);
      const lock = readLock(out);
      expect(lock.images.map((i) => i.target)).to.deep.equal(["workshop/app:latest", "workshop/hello:1.0", "workshop/tools:2-alpine"]);
      expect(lock.images.map((i) => i.indexDigest)).to.deep.equal([images[2].digest, images[0].digest, images[1].digest]);
      expect(lock.platforms).to.deep.equal(["linux/amd64", "linux/arm/v7", "linux/arm64"]);
      const amd64 = new Map(images.flatMap((image) => image.platforms.filter((p) => p.platform === "linux/amd64").flatMap((p) => [p.config, ...p.layers])).map((b) => [b.digest, b.size]));
      expect(lock.totals["linux/amd64"]).to.equal([...amd64.values()].reduce((a, b) => a + b, 0));
    });

    it("exits 1 listing exactly what is missing and how to fix it (venue verify)", async () => {
      // A layer removed from the venue's storage, and an image never mirrored.
      const broken = await startRegistry();
      const brokenLocks = makeTempDir("locks");
      await mirrorImage({ source: `${upstream.host}/library/hello:1.0`, target: "workshop/hello:1.0", registry: broken.host, lockDir: brokenLocks, report: () => undefined });
      const arm = images[0].platforms.find((p) => p.platform === "linux/arm/v7")!;
      const hex = arm.layers[1].digest.slice(7);
      fs.rmSync(path.join(broken.rootDirectory, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex), { recursive: true });
      const file = imagesJson([
        { source: `${upstream.host}/library/hello:1.0`, target: "workshop/hello:1.0" },
        { source: `${upstream.host}/library/tools:2-alpine`, target: "workshop/tools:2" },
      ]);
      const out = path.join(makeTempDir("www"), "venue-lock.json");
      const run = runVenueCli(["verify", "--images", file, "--registry", broken.host, "--lock-dir", brokenLocks, "--out", out, "--platforms", "linux/amd64,linux/arm64,linux/arm/v7"]);
      expect(run.status).to.equal(1);
      const fix = (source: string, target: string): string =>
        `    fix: re-run pulumi up, or: npm run venue -- mirror --source ${source} --target ${target} --registry ${broken.host} --platforms linux/amd64,linux/arm64,linux/arm/v7 --lock-dir ${brokenLocks}`;
      expect(run.stderr).to.equal(
        [
          `2 of 2 images incomplete in ${broken.host}; the venue lock file was not written:`,
          "  workshop/hello:1.0:",
          `    - linux/arm/v7 blob ${arm.layers[1].digest} is missing from ${broken.host}/workshop/hello`,
          fix(`${upstream.host}/library/hello:1.0`, "workshop/hello:1.0"),
          "  workshop/tools:2:",
          `    - not mirrored yet: no lock fragment for it in ${brokenLocks}`,
          fix(`${upstream.host}/library/tools:2-alpine`, "workshop/tools:2"),
          "",
        ].join("\n"),
      );
      expect(fs.existsSync(out)).to.equal(false);
    });
  });
});

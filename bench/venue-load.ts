/**
 * 700 attendees pulling through the front door at once, on 127.0.0.1, bounded in time.
 *
 * Each simulated attendee does what dockerd does for `docker pull` of two workshop images: ping
 * /v2/, GET the tag's index, GET the linux/amd64 manifest, GET the config blob, then the layers
 * three at a time (dockerd's max-concurrent-downloads), over its own keep-alive connections (at most
 * three). Attendees arrive spread over LOAD_RAMP_SECONDS. Every blob's length is checked; the
 * SHA-256 of every 25th attendee's blobs too (hashing all would take the CPU nginx needs).
 *
 * Prints errors (target 0), aggregate MB/s, latency percentiles, peak client connections seen by
 * stub_status and nginx's memory (RSS of master and workers, from /proc).
 *
 *   npm run bench:load
 *   LOAD_ATTENDEES=700 LOAD_RAMP_SECONDS=5 LOAD_DEADLINE_SECONDS=150 npm run bench:load
 */
import * as crypto from "crypto";
import { setMaxListeners } from "events";
import * as fs from "fs";
import * as http from "http";
import { MediaType, buildFixtureImage } from "../test/support/fixtures";
import { stopAllServices } from "../test/support/services";
import { nginxResidentBytes, percentile, startVenueRig } from "./venue-rig";

const attendeeCount = Number(process.env.LOAD_ATTENDEES ?? 700);
const rampSeconds = Number(process.env.LOAD_RAMP_SECONDS ?? 5);
const deadlineSeconds = Number(process.env.LOAD_DEADLINE_SECONDS ?? 150);
const parallelLayers = 3;
const digestCheckEvery = 25;

const acceptManifests = [MediaType.ociIndex, MediaType.dockerList, MediaType.ociManifest, MediaType.dockerManifest].join(", ");

interface Descriptor {
  digest: string;
  size: number;
}

interface Stats {
  requests: number;
  bytes: number;
  errors: string[];
  latencyMs: { manifest: number[]; blob: number[] };
  attendeeMs: number[];
  digestChecked: number;
}

class Attendee {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: parallelLayers });

  constructor(
    private readonly baseUrl: string,
    private readonly stats: Stats,
    private readonly checkDigests: boolean,
    private readonly signal: AbortSignal,
  ) {}

  async pull(references: Array<{ repository: string; tag: string }>): Promise<void> {
    const started = Date.now();
    try {
      await this.get("/v2/", "manifest");
      for (const { repository, tag } of references) {
        const index = JSON.parse((await this.get(`/v2/${repository}/manifests/${tag}`, "manifest", acceptManifests)).toString()) as {
          manifests: Array<Descriptor & { platform: { os: string; architecture: string } }>;
        };
        const amd64 = index.manifests.find((m) => m.platform.os === "linux" && m.platform.architecture === "amd64");
        if (!amd64) throw new Error(`${repository}:${tag} has no linux/amd64 manifest`);
        const manifest = JSON.parse((await this.get(`/v2/${repository}/manifests/${amd64.digest}`, "manifest", acceptManifests)).toString()) as {
          config: Descriptor;
          layers: Descriptor[];
        };
        await this.blob(repository, manifest.config);
        const queue = [...manifest.layers];
        await Promise.all(
          Array.from({ length: parallelLayers }, async () => {
            for (let layer = queue.shift(); layer; layer = queue.shift()) await this.blob(repository, layer);
          }),
        );
      }
      this.stats.attendeeMs.push(Date.now() - started);
    } catch (error) {
      this.stats.errors.push(String(error instanceof Error ? error.message : error));
    } finally {
      this.agent.destroy();
    }
  }

  private async blob(repository: string, descriptor: Descriptor): Promise<void> {
    const hash = this.checkDigests ? crypto.createHash("sha256") : undefined;
    const length = await this.stream(`/v2/${repository}/blobs/${descriptor.digest}`, "blob", undefined, (chunk) => hash?.update(chunk));
    if (length !== descriptor.size) throw new Error(`${repository}@${descriptor.digest}: ${length} bytes, expected ${descriptor.size}`);
    if (hash) {
      const digest = `sha256:${hash.digest("hex")}`;
      if (digest !== descriptor.digest) throw new Error(`${repository}@${descriptor.digest}: content hashes to ${digest}`);
      this.stats.digestChecked++;
    }
  }

  private async get(uri: string, kind: "manifest", accept?: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await this.stream(uri, kind, accept, (chunk) => chunks.push(chunk));
    return Buffer.concat(chunks);
  }

  private stream(uri: string, kind: "manifest" | "blob", accept: string | undefined, onData: (chunk: Buffer) => void): Promise<number> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const request = http.get(
        `${this.baseUrl}${uri}`,
        { agent: this.agent, headers: accept ? { Accept: accept } : {}, signal: this.signal },
        (response) => {
          let length = 0;
          if (response.statusCode !== 200) {
            response.resume();
            reject(new Error(`GET ${uri}: HTTP ${response.statusCode}`));
            return;
          }
          response.on("data", (chunk: Buffer) => {
            length += chunk.length;
            onData(chunk);
          });
          response.on("end", () => {
            this.stats.requests++;
            this.stats.bytes += length;
            this.stats.latencyMs[kind].push(Date.now() - started);
            resolve(length);
          });
          response.on("error", reject);
        },
      );
      request.on("error", reject);
    });
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

function summary(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${name.padEnd(22)} n=${String(sorted.length).padEnd(6)} p50 ${percentile(sorted, 50).toFixed(0).padStart(6)} ms  p99 ${percentile(sorted, 99).toFixed(0).padStart(6)} ms  max ${(sorted[sorted.length - 1] ?? NaN).toFixed(0).padStart(6)} ms`;
}

async function main(): Promise<void> {
  // Two workshop images sharing a base layer, each with an arm64 variant nobody here pulls.
  const images = [
    buildFixtureImage({ repository: "workshop/app", tag: "1", format: "oci", platforms: ["linux/amd64", "linux/arm64"], payloadBytes: 12 << 20 }),
    buildFixtureImage({ repository: "workshop/db", tag: "1", format: "docker", platforms: ["linux/amd64", "linux/arm64"], payloadBytes: 6 << 20 }),
  ];
  const bytesPerAttendee = images
    .map((image) => image.platforms.find((p) => p.platform === "linux/amd64")!)
    .reduce((sum, p) => sum + p.config.size + p.layers.reduce((s, l) => s + l.size, 0), 0);
  const rig = await startVenueRig(images);
  const frontDoor = await rig.startFrontDoor();
  const masterPid = frontDoor.nginx.process.pid!;
  const idleRss = nginxResidentBytes(masterPid);
  console.log(
    `${attendeeCount} attendees over ${rampSeconds} s, each pulling ${images.length} images (${mb(bytesPerAttendee)}), ` +
      `${parallelLayers} layers at a time; deadline ${deadlineSeconds} s\n`,
  );

  let peakRss = idleRss;
  let peakActive = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, nginxResidentBytes(masterPid));
    http
      .get(frontDoor.statusUrl, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          const active = Number(/Active connections:\s*(\d+)/.exec(text)?.[1] ?? 0);
          peakActive = Math.max(peakActive, active);
        });
      })
      .on("error", () => undefined);
  }, 250);

  const stats: Stats = { requests: 0, bytes: 0, errors: [], latencyMs: { manifest: [], blob: [] }, attendeeMs: [], digestChecked: 0 };
  const deadline = new AbortController();
  setMaxListeners(0, deadline.signal); // one listener per request in flight
  const deadlineTimer = setTimeout(() => deadline.abort(), deadlineSeconds * 1000);
  const references = images.map((image) => ({ repository: image.repository, tag: image.tag }));
  const started = Date.now();
  await Promise.all(
    Array.from({ length: attendeeCount }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i / attendeeCount) * rampSeconds * 1000));
      if (deadline.signal.aborted) return;
      await new Attendee(frontDoor.url, stats, i % digestCheckEvery === 0, deadline.signal).pull(references);
    }),
  );
  const wallSeconds = (Date.now() - started) / 1000;
  clearTimeout(deadlineTimer);
  clearInterval(sampler);
  const finalRss = nginxResidentBytes(masterPid);
  await new Promise((r) => setTimeout(r, 1500)); // access log flush=1s

  const logLines = fs
    .readFileSync(frontDoor.accessLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { status: number; kind: string; upstream: string });
  const blobLines = logLines.filter((l) => l.kind === "blob");

  const unfinished = attendeeCount - stats.attendeeMs.length - stats.errors.length;
  console.log(`attendees finished     ${stats.attendeeMs.length} of ${attendeeCount} (${stats.errors.length} failed, ${unfinished} cut by the deadline)`);
  console.log(`errors                 ${stats.errors.length}${stats.errors.length ? `  first: ${stats.errors[0]}` : ""}`);
  console.log(`requests               ${stats.requests}, blobs digest-checked ${stats.digestChecked}`);
  console.log(`aggregate              ${mb(stats.bytes)} in ${wallSeconds.toFixed(1)} s = ${(stats.bytes / 1e6 / wallSeconds).toFixed(0)} MB/s`);
  console.log(summary("manifest requests", stats.latencyMs.manifest));
  console.log(summary("blob requests", stats.latencyMs.blob));
  console.log(summary("whole pull, attendee", stats.attendeeMs));
  console.log(`peak client connections ${peakActive} (stub_status)`);
  console.log(`nginx RSS              idle ${mb(idleRss)}, peak ${mb(peakRss)}, after ${mb(finalRss)} (master + workers)`);
  console.log(
    `access log             ${logLines.length} lines, ${logLines.filter((l) => l.status >= 400).length} with status >= 400, ` +
      `${blobLines.filter((l) => l.upstream === "").length} of ${blobLines.length} blob requests served from disk`,
  );
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAllServices());

/**
 * A whole venue on 127.0.0.1 for the monitor's tests: a writable docker-registry with the fixture
 * images, read-only replicas on the same storage, the real front door (lib/nginx-config.ts) writing
 * its JSON access log, a lock file, and the monitor. Real programs only.
 */
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { RunningMonitor, startMonitor, MonitorOptions } from "../../lib/monitor";
import { renderNginxConfig } from "../../lib/nginx-config";
import { buildLock, LockedImage, VenueLock, writeLock } from "../../lib/venue-lock";
import { buildFixtureSet, FixtureImage, lockedPlatformsOf, pushFixtures } from "./fixtures";
import { freePort, makeTempDir, RunningNginx, RunningRegistry, startNginx, startRegistry } from "./services";

export interface MonitoredVenue {
  images: FixtureImage[];
  /** Locked but never pushed: the monitor must report it missing. */
  missingTarget: string;
  lock: VenueLock;
  lockFile: string;
  lockText: string;
  accessLog: string;
  writer: RunningRegistry;
  replicas: RunningRegistry[];
  nginx: RunningNginx;
  /** "127.0.0.1:PORT", as image references name the front door. */
  frontDoorHost: string;
  frontDoorUrl: string;
  stubStatusUrl: string;
  monitor: RunningMonitor;
  lanAddresses: string[];
}

export function lockedImageOf(image: FixtureImage): LockedImage {
  return {
    target: `${image.repository}:${image.tag}`,
    repository: image.repository,
    tag: image.tag,
    source: `docker.io/${image.repository}:${image.tag}`,
    sourceDigest: image.digest,
    indexDigest: image.digest,
    mediaType: image.mediaType,
    platforms: lockedPlatformsOf(image),
    mirroredAt: "2025-05-19T18:00:00.000Z",
  };
}

export const TEST_LAN_ADDRESSES = ["192.168.1.20:5000", "10.20.0.5:5000"];

export async function startMonitoredVenue(overrides: Partial<MonitorOptions> = {}): Promise<MonitoredVenue> {
  const work = makeTempDir("monitored-venue");
  // nginx's workers run as nobody when the tests run as root; they read storage and attendee files.
  fs.chmodSync(work, 0o755);
  const writer = await startRegistry();
  fs.chmodSync(path.dirname(writer.rootDirectory), 0o755);
  const images = buildFixtureSet();
  await pushFixtures(writer.url, images);
  const replicas = [
    await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
    await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
  ];

  const missing: LockedImage = {
    ...lockedImageOf(images[2]),
    target: "workshop/missing:1",
    repository: "workshop/missing",
    tag: "1",
    source: "docker.io/workshop/missing:1",
  };
  const lock = buildLock([...images.map(lockedImageOf), missing], ["linux/amd64", "linux/arm64", "linux/arm/v7"], new Date("2025-05-19T18:30:00Z"));
  const attendeeDirectory = path.join(work, "attendee");
  const lockFile = path.join(attendeeDirectory, "venue-lock.json");
  writeLock(lockFile, lock);
  fs.chmodSync(attendeeDirectory, 0o755);

  const [listenPort, statusPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
  const prefix = path.join(work, "nginx");
  fs.mkdirSync(path.join(prefix, "logs"), { recursive: true });
  fs.mkdirSync(path.join(prefix, "temp"));
  const accessLog = path.join(work, "logs", "access.json");
  fs.mkdirSync(path.dirname(accessLog));
  const config = renderNginxConfig({
    listenPort,
    listenAddress: "127.0.0.1",
    replicas: replicas.map((r) => r.host),
    monitor: `127.0.0.1:${monitorPort}`,
    storageRoot: writer.rootDirectory,
    attendeeDirectory,
    accessLog,
    errorLog: path.join(prefix, "logs", "error.log"),
    pidFile: path.join(prefix, "nginx.pid"),
    tempDirectory: path.join(prefix, "temp"),
    status: { port: statusPort, address: "127.0.0.1", allow: ["127.0.0.1"] },
    workerProcesses: 1,
    ...(os.userInfo().uid === 0 ? { user: "root" } : {}),
  });
  const stubStatusUrl = `http://127.0.0.1:${statusPort}/stub_status`;
  const nginx = await startNginx(config, stubStatusUrl, prefix);
  const frontDoorUrl = `http://127.0.0.1:${listenPort}`;
  const monitor = await startMonitor({
    listen: `127.0.0.1:${monitorPort}`,
    lockFile,
    accessLogFile: accessLog,
    stubStatusUrl,
    replicaUrls: replicas.map((r) => r.url),
    frontDoorUrl,
    lanAddresses: TEST_LAN_ADDRESSES,
    attendeeCommands: ["npx -y http://{venue}/attendee/workshop-attendee.tgz"],
    refreshIntervalMs: 250,
    ...overrides,
  });
  return {
    images,
    missingTarget: missing.target,
    lock,
    lockFile,
    lockText: fs.readFileSync(lockFile, "utf8"),
    accessLog,
    writer,
    replicas,
    nginx,
    frontDoorHost: `127.0.0.1:${listenPort}`,
    frontDoorUrl,
    stubStatusUrl,
    monitor,
    lanAddresses: TEST_LAN_ADDRESSES,
  };
}

const ACCEPT_MANIFESTS = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** One GET from a chosen loopback address (a distinct "machine"), read to the end; returns the body size. */
export function getFrom(localAddress: string, url: string, method = "GET"): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, localAddress, agent: false, headers: { Accept: ACCEPT_MANIFESTS } }, (response) => {
      let bytes = 0;
      response.on("data", (chunk: Buffer) => (bytes += chunk.length));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, bytes }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

/**
 * What a client does to pull one platform of an image by digest: the top manifest, the platform
 * manifest when the top is an index, then config and layers. Returns the body bytes received.
 */
export async function pullOverHttp(frontDoorUrl: string, localAddress: string, image: FixtureImage, platform: string): Promise<number> {
  const base = `${frontDoorUrl}/v2/${image.repository}`;
  const p = image.platforms.find((x) => x.platform === platform)!;
  const urls = [`${base}/manifests/${image.digest}`];
  if (image.digest !== p.manifestDigest) urls.push(`${base}/manifests/${p.manifestDigest}`);
  for (const b of [p.config, ...p.layers]) urls.push(`${base}/blobs/${b.digest}`);
  let total = 0;
  for (const url of urls) {
    const { status, bytes } = await getFrom(localAddress, url);
    if (status !== 200) throw new Error(`GET ${url} from ${localAddress} answered ${status}`);
    total += bytes;
  }
  return total;
}

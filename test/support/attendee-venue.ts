/**
 * A small venue for the attendee tests and bench: real docker-registry processes holding fixture
 * images, a real nginx front door that proxies /v2/ to them and serves /attendee/venue-lock.json,
 * and a second registry standing in for Docker Hub. The lock file is built by hand from the fixture
 * data, the way `venue verify` would describe the same images.
 */
import * as fs from "fs";
import * as path from "path";
import { buildLock, LockedImage, VenueLock } from "../../lib/venue-lock";
import { FixtureImage, lockedPlatformsOf, pushFixtures } from "./fixtures";
import { freePort, makeTempDir, RunningNginx, RunningRegistry, startNginx, startRegistry } from "./services";

/** Describes a fixture as the lock file does; `venueRepository` is where the venue holds it. */
export function lockedImageFor(fixture: FixtureImage, sourceRegistry: string): LockedImage {
  const name = fixture.repository.split("/").pop()!;
  return {
    target: `workshop/${name}:${fixture.tag}`,
    repository: fixture.repository,
    tag: fixture.tag,
    source: `${sourceRegistry}/${fixture.repository}:${fixture.tag}`,
    sourceDigest: fixture.digest,
    indexDigest: fixture.digest,
    mediaType: fixture.mediaType,
    platforms: lockedPlatformsOf(fixture),
    mirroredAt: "2026-01-01T00:00:00.000Z",
  };
}

export interface TestVenue {
  /** "127.0.0.1:PORT" of the front door: what attendees pass as --registry. */
  frontDoor: string;
  nginx: RunningNginx;
  /** The registries behind the front door (replicas share one storage folder). */
  replicas: RunningRegistry[];
  /** The registry standing in for Docker Hub, holding the same images at the same digests. */
  hub: RunningRegistry;
  lock: VenueLock;
  wwwDir: string;
}

export interface TestVenueOptions {
  images: FixtureImage[];
  /** Registries behind the front door, sharing storage (default 1). */
  replicas?: number;
  /** An existing "Docker Hub" to reuse. */
  hub?: RunningRegistry;
}

function frontDoorConfig(port: number, upstreams: string[], wwwDir: string): string {
  return `worker_processes 1;
pid nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  upstream venue_registries {
${upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=30s;`).join("\n")}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location /v2/ {
      proxy_pass http://venue_registries;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_read_timeout 900;
      proxy_next_upstream error timeout http_502 http_503;
      add_header Docker-Distribution-Api-Version registry/2.0 always;
    }
    location /attendee/ {
      alias ${wwwDir}/attendee/;
    }
  }
}
`;
}

export async function startTestVenue(options: TestVenueOptions): Promise<TestVenue> {
  const first = await startRegistry();
  await pushFixtures(first.url, options.images);
  const replicas = [first];
  for (let i = 1; i < (options.replicas ?? 1); i++) replicas.push(await startRegistry({ rootDirectory: first.rootDirectory, readOnly: true }));
  const hub = options.hub ?? (await startRegistry());
  if (!options.hub) await pushFixtures(hub.url, options.images);
  const lock = buildLock(options.images.map((image) => lockedImageFor(image, hub.host)), ["linux/amd64", "linux/arm64", "linux/arm/v7"], new Date("2026-01-01T00:00:00Z"));
  // nginx workers run as "nobody": everything they serve must be world-readable.
  const wwwDir = makeTempDir("www");
  fs.chmodSync(wwwDir, 0o755);
  fs.mkdirSync(path.join(wwwDir, "attendee"), { mode: 0o755 });
  writeLockForVenue(wwwDir, lock);
  const port = await freePort();
  const nginx = await startNginx(frontDoorConfig(port, replicas.map((r) => r.host), wwwDir), `http://127.0.0.1:${port}/attendee/venue-lock.json`);
  return { frontDoor: `127.0.0.1:${port}`, nginx, replicas, hub, lock, wwwDir };
}

export function writeLockForVenue(wwwDir: string, lock: VenueLock): void {
  const file = path.join(wwwDir, "attendee", "venue-lock.json");
  fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  fs.chmodSync(file, 0o644);
}

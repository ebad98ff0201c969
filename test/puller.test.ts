import { expect } from "chai";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { buildMirrorList } from "../lib/mirror-list";
import {
  fallbackNotice,
  fetchMirrorList,
  fetchVenueLock,
  formatSummaryTable,
  ImageProgress,
  orderServingRegistries,
  planPull,
  PullEvent,
  pullImages,
  PullPlan,
  PullSummary,
  PullWatch,
  rateLimitFailure,
  sourceNameOf,
  sourceReference,
  venueReference,
  verifyImages,
  VenueUnreachableError,
} from "../lib/puller";
import { buildLock } from "../lib/venue-lock";
import { DockerEngine } from "../lib/docker-engine";
import { lockedImageFor, startTestVenue, TestVenue } from "./support/attendee-venue";
import { buildFixtureSet, FixtureImage, platformBytes } from "./support/fixtures";
import { describeWait } from "../lib/progress-display";
import { startNginxInFront, startRateLimitedRegistry } from "./support/front-door";
import { childProcessIds, engineFor, freePort, startDockerd, waitFor } from "./support/services";

describe("puller", () => {
  const fixtures = buildFixtureSet();
  const lock = buildLock(fixtures.map((f) => lockedImageFor(f, "docker.io")), ["linux/amd64", "linux/arm64"], new Date("2026-01-01T00:00:00Z"));

  it("plans the engine's platform, with the lock's unique bytes, and lists images the venue lacks", () => {
    const amd = planPull(lock, "linux/amd64");
    expect(amd.images.map((i) => i.workshopName)).to.deep.equal(["workshop/app:latest", "workshop/hello:1.0", "workshop/tools:2-alpine"]);
    expect(amd.unavailable).to.deep.equal([]);
    expect(amd.totalBytes).to.equal(lock.totals["linux/amd64"]);
    const arm = planPull(lock, "linux/arm64/v8");
    expect(arm.images.map((i) => i.workshopName)).to.deep.equal(["workshop/hello:1.0", "workshop/tools:2-alpine"]);
    expect(arm.unavailable.map((i) => i.target)).to.deep.equal(["workshop/app:latest"]);
    const hello = fixtures.find((f) => f.repository === "library/hello")!;
    expect(arm.images[0].bytes).to.equal(platformBytes(hello, "linux/arm64"));
  });

  it("names the venue and source references by digest, and the source as compose files write it", () => {
    const hello = lock.images.find((i) => i.target === "workshop/hello:1.0")!;
    expect(venueReference("192.168.1.20:5000", hello)).to.equal(`192.168.1.20:5000/library/hello@${hello.indexDigest}`);
    expect(sourceReference(hello)).to.equal(`docker.io/library/hello@${hello.sourceDigest}`);
    expect(sourceNameOf(hello)).to.equal("hello:1.0");
    expect(sourceNameOf({ ...hello, source: "ghcr.io/acme/tool:2" })).to.equal("ghcr.io/acme/tool:2");
  });

  it("tells an attendee what to do about a source registry's pull limit, naming Docker Hub as people know it", () => {
    expect(rateLimitFailure("docker.io")).to.deep.equal({
      error: "Docker Hub turned the pull away: this network has used up its pull limit (HTTP 429), and everyone here shares it",
      advice:
        "Docker Hub's pull limit: ask the facilitator whether the venue registry is up, or sign in with docker login " +
        "(a free account gets a higher limit); then run the same command again: images already pulled stay.",
    });
    expect(rateLimitFailure("ghcr.io")).to.deep.equal({
      error: "ghcr.io turned the pull away: too many pulls from this network (HTTP 429)",
      advice: "ghcr.io's pull limit: wait a while or sign in with docker login ghcr.io, then run the same command again: images already pulled stay.",
    });
  });

  it("counts per-layer progress in bytes from the engine's messages", () => {
    const planned = planPull(lock, "linux/amd64").images.find((i) => i.workshopName === "workshop/hello:1.0")!;
    const progress = new ImageProgress(planned.platform);
    const [config, base, app] = planned.platform.blobs;
    const shortId = (digest: string) => digest.slice(7, 19);
    expect(progress.totalBytes).to.equal(config.size + base.size + app.size);
    expect(progress.apply({ status: "Pulling fs layer", id: shortId(base.digest) })).to.equal(false);
    expect(progress.apply({ status: "Downloading", id: shortId(base.digest), progressDetail: { current: 1000, total: base.size } })).to.equal(true);
    expect(progress.doneBytes).to.equal(1000);
    expect(progress.apply({ status: "Already exists", id: shortId(app.digest) })).to.equal(true);
    expect(progress.apply({ status: "Pull complete", id: shortId(base.digest) })).to.equal(true);
    expect(progress.doneBytes).to.equal(base.size + app.size);
    expect(progress.apply({ status: "Downloading", id: "0123456789ab", progressDetail: { current: 5 } })).to.equal(false);
  });

  it("tells a stalled pull from one waiting for a download slot", () => {
    let now = 0;
    const clock = () => now;
    const [a, b] = ["aaaaaaaaaaaa", "bbbbbbbbbbbb"];

    // No word at all, not even the manifest: stalled once the limit passes.
    const silent = new PullWatch(clock);
    now = 9_999;
    expect(silent.isStalled(10_000, 0)).to.equal(false);
    now = 10_000;
    expect(silent.isStalled(10_000, 0)).to.equal(true);

    // Layers waiting for a slot while other pulls move: not stalled, however long.
    now = 0;
    const waiting = new PullWatch(clock);
    waiting.saw({ status: "Pulling from library/hello", id: "1.0" });
    waiting.saw({ status: "Waiting", id: a });
    waiting.saw({ status: "Waiting", id: b });
    now = 60_000;
    expect(waiting.isStalled(10_000, 500)).to.equal(false);
    // ... unless nothing anywhere has moved for as long.
    expect(waiting.isStalled(10_000, 10_000)).to.equal(true);

    // A layer in transfer that went quiet is stalled even while other pulls move.
    now = 0;
    const downloading = new PullWatch(clock);
    downloading.saw({ status: "Waiting", id: a });
    downloading.saw({ status: "Downloading", id: b, progressDetail: { current: 10, total: 100 } });
    now = 9_000;
    downloading.saw({ status: "Downloading", id: b, progressDetail: { current: 20, total: 100 } });
    now = 18_000;
    expect(downloading.isStalled(10_000, 0)).to.equal(false);
    now = 19_000;
    expect(downloading.isStalled(10_000, 0)).to.equal(true);

    // Unpacking is the engine's own work: quiet only matters when the whole engine is quiet.
    now = 0;
    const unpacking = new PullWatch(clock);
    unpacking.saw({ status: "Download complete", id: a });
    unpacking.saw({ status: "Extracting", id: b, progressDetail: { current: 1, total: 2 } });
    now = 30_000;
    expect(unpacking.isStalled(10_000, 1_000)).to.equal(false);
  });

  it("prints a summary table with origin, size, time and the overall rate, and a fallback notice", () => {
    const summary: PullSummary = {
      platform: "linux/amd64",
      images: [
        { workshopName: "workshop/hello:1.0", sourceName: "hello:1.0", reference: "v:5000/library/hello@sha256:aa", origin: "venue", registry: "v:5000", bytes: 2_500_000, seconds: 1.25, attempts: 1 },
        { workshopName: "workshop/app:latest", sourceName: "app:latest", reference: "docker.io/library/app@sha256:bb", origin: "fallback", registry: "docker.io", bytes: 12_000, seconds: 3, attempts: 4, fallbackReason: "v:5000: connection refused" },
      ],
      failed: [{ workshopName: "workshop/tools:2", error: "x" }],
      totalBytes: 2_512_000,
      seconds: 4,
      megabytesPerSecond: 0.628,
    };
    expect(formatSummaryTable(summary)).to.equal(
      [
        "IMAGE                FROM                    SIZE   TIME",
        "workshop/hello:1.0   venue (v:5000)        2.5 MB  1.3 s",
        "workshop/app:latest  fallback (docker.io)   12 kB  3.0 s",
        "workshop/tools:2     FAILED                     -      -",
        "2 of 3 images, 2.51 MB in 4.0 s: 0.6 MB/s overall",
      ].join("\n"),
    );
    expect(fallbackNotice(summary)).to.equal(
      [
        "Notice: 1 image came from the internet instead of the venue:",
        "  workshop/app:latest from docker.io/library/app@sha256:bb, because v:5000: connection refused",
        "They work the same; tell the facilitator so the venue can be checked.",
      ].join("\n"),
    );
    expect(fallbackNotice({ ...summary, images: [summary.images[0]] })).to.equal(undefined);
  });

  describe("which venue registries a machine pulls from", () => {
    const list = buildMirrorList("192.168.1.10:5000", ["192.168.1.21:5000", "192.168.1.22:5000"], new Date("2026-01-01T00:00:00Z"));

    it("puts the machine's assigned serving laptop first and the rest in its failover order", () => {
      expect(orderServingRegistries(["192.168.1.10:5000"], list, "laptop-a")).to.deep.equal({
        registries: ["192.168.1.22:5000", "192.168.1.10:5000", "192.168.1.21:5000"],
        assigned: "192.168.1.22:5000",
        source: "mirror-list",
      });
      expect(orderServingRegistries(["192.168.1.10:5000"], list, "laptop-b").registries).to.deep.equal(["192.168.1.10:5000", "192.168.1.22:5000", "192.168.1.21:5000"]);
      expect(orderServingRegistries(["192.168.1.10:5000"], list, "laptop-c").registries).to.deep.equal(["192.168.1.21:5000", "192.168.1.10:5000", "192.168.1.22:5000"]);
    });

    it("lets the address the attendee reached the venue at stand in for the list's primary", () => {
      const twoNetworks = buildMirrorList("192.168.1.10:5000", ["192.168.1.21:5000"], new Date("2026-01-01T00:00:00Z"));
      expect(orderServingRegistries(["10.20.0.5:5000"], twoNetworks, "laptop-a").registries).to.deep.equal(["10.20.0.5:5000", "192.168.1.21:5000"]);
      expect(orderServingRegistries(["10.20.0.5:5000"], twoNetworks, "laptop-c").registries).to.deep.equal(["192.168.1.21:5000", "10.20.0.5:5000"]);
    });

    it("spreads several --registry values the same way instead of taking the first", () => {
      const given = ["192.168.1.10:5000", "192.168.1.21:5000", "192.168.1.22:5000"];
      expect(orderServingRegistries(given, undefined, "laptop-a")).to.deep.equal({
        registries: ["192.168.1.22:5000", "192.168.1.10:5000", "192.168.1.21:5000"],
        assigned: "192.168.1.22:5000",
        source: "registry-flags",
      });
      // Given registries win over the venue's list.
      expect(orderServingRegistries(given.slice(0, 2), list, "laptop-a").registries).to.deep.equal(["192.168.1.10:5000", "192.168.1.21:5000"]);
    });

    it("uses the venue alone without a list, or with a list that names no mirror", () => {
      expect(orderServingRegistries(["Venue.local:5000"], undefined, "laptop-a")).to.deep.equal({ registries: ["Venue.local:5000"], assigned: "Venue.local:5000", source: "venue-only" });
      const alone = buildMirrorList("192.168.1.10:5000", [], new Date("2026-01-01T00:00:00Z"));
      expect(orderServingRegistries(["192.168.1.10:5000"], alone, "laptop-a").source).to.equal("venue-only");
    });
  });

  it("reports an unreachable venue with the address and the reason", async () => {
    const port = await freePort();
    try {
      await fetchVenueLock([`127.0.0.1:${port}`], 2_000);
      expect.fail("fetchVenueLock should have thrown");
    } catch (error) {
      expect(error).to.be.instanceOf(VenueUnreachableError);
      expect((error as Error).message).to.equal(
        `Could not read the venue's image list from http://127.0.0.1:${port}/attendee/venue-lock.json: 127.0.0.1:${port}: connection refused (nothing listens there)`,
      );
    }
  });
});

describe("puller @system", function () {
  this.timeout(180_000);
  let images: FixtureImage[];
  let venue: TestVenue;

  before(async () => {
    images = buildFixtureSet();
    venue = await startTestVenue({ images, replicas: 2 });
  });

  it("pulls every image through the front door by digest, tags both names, and verify passes", async () => {
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    const { lock, from } = await fetchVenueLock([venue.frontDoor]);
    expect(from).to.equal(venue.frontDoor);
    const plan = planPull(lock, "linux/amd64");
    const events: PullEvent[] = [];
    const summary = await pullImages(plan, { engine, registries: [venue.frontDoor], concurrency: 3, onEvent: (e) => events.push(e) });

    expect(summary.failed).to.deep.equal([]);
    expect(summary.images.map((i) => [i.workshopName, i.origin, i.registry]).sort()).to.deep.equal([
      ["workshop/app:latest", "venue", venue.frontDoor],
      ["workshop/hello:1.0", "venue", venue.frontDoor],
      ["workshop/tools:2-alpine", "venue", venue.frontDoor],
    ]);
    // Progress reached each image's full size, and some came from the engine's per-layer stream.
    for (const planned of plan.images) {
      const progress = events.filter((e): e is Extract<PullEvent, { type: "image-progress" }> => e.type === "image-progress" && e.image === planned.workshopName);
      expect(progress[progress.length - 1].doneBytes).to.equal(planned.bytes);
      expect(progress.length).to.be.greaterThan(1);
    }
    expect(dockerd.docker(["run", "--rm", "--network", "none", "workshop/hello:1.0"]).trim()).to.equal("library/hello:1.0 linux/amd64");
    expect(dockerd.docker(["run", "--rm", "--network", "none", `${venue.hub.host}/team/app:latest`]).trim()).to.equal("team/app:latest linux/amd64");
    const checks = await verifyImages(engine, plan);
    expect(checks.map((c) => c.status)).to.deep.equal(["ok", "ok", "ok"]);
    await dockerd.stop();
  });

  it("reads the venue's mirror list: found, absent (404), not usable, and no answer", async () => {
    const file = path.join(venue.wwwDir, "attendee", "mirrors.json");
    const url = `http://${venue.frontDoor}/attendee/mirrors.json`;
    expect(await fetchMirrorList(venue.frontDoor)).to.deep.equal({ kind: "none", url });
    const list = buildMirrorList(venue.frontDoor, ["192.168.1.21:5000"], new Date("2026-01-01T00:00:00Z"));
    fs.writeFileSync(file, JSON.stringify(list), { mode: 0o644 });
    try {
      expect(await fetchMirrorList(venue.frontDoor)).to.deep.equal({ kind: "found", list, url });
      fs.writeFileSync(file, `{"schemaVersion": 1, "primary": "${venue.frontDoor}", "mirrors": ["http://192.168.1.21:5000"], "generatedAt": "2026-01-01T00:00:00Z"}`);
      expect(await fetchMirrorList(venue.frontDoor)).to.deep.equal({
        kind: "invalid",
        url,
        problem: `${url} is not a usable mirror list: mirrors.0: "http://192.168.1.21:5000" has no valid host name or address before the port (e.g. 192.168.1.20:5000)`,
      });
      fs.writeFileSync(file, "{ not json");
      const broken = await fetchMirrorList(venue.frontDoor);
      expect(broken.kind).to.equal("invalid");
      expect((broken as { problem: string }).problem).to.match(new RegExp(`^${url.replace(/[.]/g, "\\.")} is not valid JSON: .* at line 1, column 3$`));
    } finally {
      fs.rmSync(file, { force: true });
    }
    const closed = `127.0.0.1:${await freePort()}`;
    expect(await fetchMirrorList(closed)).to.deep.equal({
      kind: "unreachable",
      url: `http://${closed}/attendee/mirrors.json`,
      problem: "connection refused (nothing listens there)",
    });
  });

  it("completes when a venue registry is killed mid-pull, failing over to the next --registry", async () => {
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    // A separate writer-less copy: one more read-only registry on the same storage, used directly.
    const doomed = venue.replicas[1];
    const plan = planPull(venue.lock, "linux/amd64");
    const events: PullEvent[] = [];
    let killed = false;
    const summary = await pullImages(plan, {
      engine,
      registries: [doomed.host, venue.frontDoor],
      concurrency: 1,
      retryDelayMs: 50,
      onEvent: (event) => {
        events.push(event);
        if (event.type === "image-done" && !killed) {
          killed = true;
          void doomed.kill();
        }
      },
    });
    expect(summary.failed).to.deep.equal([]);
    expect(summary.images.map((i) => i.registry)).to.deep.equal([doomed.host, venue.frontDoor, venue.frontDoor]);
    expect(summary.images.every((i) => i.origin === "venue")).to.equal(true);
    const down = events.filter((e) => e.type === "registry-down");
    expect(down.map((e) => (e as { registry: string }).registry)).to.deep.equal([doomed.host]);
    // The first image after the kill tried the dead registry 3 times before failing over; the last skipped it.
    const failedAttempts = events.filter((e) => e.type === "attempt-failed");
    expect(failedAttempts.map((e) => (e as { attempt: number }).attempt)).to.deep.equal([1, 2, 3]);
    expect((await verifyImages(engine, plan)).map((c) => c.status)).to.deep.equal(["ok", "ok", "ok"]);
    await dockerd.stop();
  });

  /** A registry behind nginx that can be frozen: SIGSTOP keeps its sockets open and silent, as a laptop whose lid was closed. */
  async function freezableRegistry(): Promise<{ host: string; freeze: () => void; stop: () => Promise<void> }> {
    const front = await startNginxInFront((upstream) => `    location /v2/ { proxy_pass ${upstream}; }`, venue.replicas[0]);
    const pids = [front.nginx.process.pid!, ...childProcessIds(front.nginx.process.pid!)];
    let frozen = false;
    const signal = (name: NodeJS.Signals) => pids.forEach((pid) => process.kill(pid, name));
    return {
      host: front.host,
      freeze: () => {
        frozen = true;
        signal("SIGSTOP");
      },
      stop: async () => {
        if (frozen) signal("SIGCONT");
        await front.stop();
      },
    };
  }

  // 3 s leaves a loaded CI machine room: a healthy pull over loopback is quiet for well under a second.
  it("moves on at once from a venue registry that went silent before the pull, with no retries", async () => {
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    const silent = await freezableRegistry();
    silent.freeze();
    const plan = planPull(venue.lock, "linux/amd64");
    const events: PullEvent[] = [];
    try {
      const summary = await pullImages(plan, { engine, registries: [silent.host, venue.frontDoor], concurrency: 1, retryDelayMs: 50, stallTimeoutMs: 3_000, onEvent: (e) => events.push(e) });
      expect(summary.failed).to.deep.equal([]);
      expect(summary.images.map((i) => [i.registry, i.origin])).to.deep.equal(plan.images.map(() => [venue.frontDoor, "venue"]));
      // The engine was still asking for the manifest: cancelling ends its pull, so one attempt and on.
      const failures = events.filter((e): e is Extract<PullEvent, { type: "attempt-failed" }> => e.type === "attempt-failed");
      expect(failures.map((e) => [e.index, e.attempt, e.error, e.retryInMs])).to.deep.equal([[0, 1, "no data for 3 s: the registry stopped answering mid-pull", undefined]]);
      expect(events.filter((e) => e.type === "registry-down")).to.deep.equal([
        { type: "registry-down", registry: silent.host, reason: "no data for 3 s: the registry stopped answering mid-pull" },
      ]);
      expect(events.filter((e) => e.type === "image-waiting")).to.deep.equal([]);
      expect((await verifyImages(engine, plan)).map((c) => c.status)).to.deep.equal(["ok", "ok", "ok"]);
    } finally {
      await silent.stop();
      await dockerd.stop();
    }
  });

  /**
   * Runs `body` with a fresh dockerd and a venue registry that sends manifests, then accepts each
   * layer request and never answers it (a laptop that vanished between the two). `pull` tries that
   * registry first, then the healthy front door.
   */
  async function withRegistryThatNeverAnswersLayers(
    body: (venueSide: {
      silentHost: string;
      engine: DockerEngine;
      unanswered: Set<net.Socket>;
      pull: (plan: PullPlan, stallTimeoutMs: number, onEvent: (event: PullEvent) => void) => Promise<PullSummary>;
    }) => Promise<void>,
  ): Promise<void> {
    const unanswered = new Set<net.Socket>();
    const blackHole = net.createServer((socket) => {
      unanswered.add(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, "127.0.0.1", resolve));
    const blackHolePort = (blackHole.address() as net.AddressInfo).port;
    const silent = await startNginxInFront(
      (upstream) => `    location ~ /blobs/ { proxy_pass http://127.0.0.1:${blackHolePort}; proxy_read_timeout 300s; }
    location /v2/ { proxy_pass ${upstream}; }`,
      venue.replicas[0],
    );
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    try {
      await body({
        silentHost: silent.host,
        engine,
        unanswered,
        pull: (plan, stallTimeoutMs, onEvent) =>
          pullImages(plan, { engine, registries: [silent.host, venue.frontDoor], concurrency: 1, retryDelayMs: 50, stallTimeoutMs, onEvent }),
      });
    } finally {
      for (const socket of unanswered) socket.destroy();
      blackHole.close();
      await silent.stop();
      await dockerd.stop();
    }
  }

  it("waits, without blaming the next registry, while the engine holds a layer request a silent registry never answered", async () => {
    // dockerd cannot cancel a layer request still waiting for its answer, and every later pull of
    // that layer joins it, from whichever registry.
    await withRegistryThatNeverAnswersLayers(async ({ silentHost, engine, unanswered, pull }) => {
      const plan = planPull(venue.lock, "linux/amd64");
      const events: PullEvent[] = [];
      const summary = await pull(plan, 3_000, (event) => {
        events.push(event);
        // The vanished laptop's connections finally time out.
        if (event.type === "image-waiting") for (const socket of unanswered) socket.destroy();
      });
      expect(summary.failed).to.deep.equal([]);
      expect(summary.images.map((i) => [i.registry, i.origin])).to.deep.equal(plan.images.map(() => [venue.frontDoor, "venue"]));
      // The silent registry is written off after one stall; the healthy one is not, though its pull stalled too.
      expect(events.filter((e) => e.type === "registry-down")).to.deep.equal([
        { type: "registry-down", registry: silentHost, reason: "no data for 3 s: the registry stopped answering mid-pull" },
      ]);
      const failures = events.filter((e): e is Extract<PullEvent, { type: "attempt-failed" }> => e.type === "attempt-failed");
      expect(failures.map((e) => [e.index, e.error])).to.deep.equal([[0, "no data for 3 s: the registry stopped answering mid-pull"]]);
      const waits = events.filter((e): e is Extract<PullEvent, { type: "image-waiting" }> => e.type === "image-waiting");
      expect(waits).to.deep.equal([{ type: "image-waiting", index: 0, image: plan.images[0].workshopName, waitMs: 15_000 }]);
      expect(describeWait(waits[0])).to.equal(
        "Docker is still holding a download from a venue registry that stopped answering, and this image needs the same layer. " +
          "It waits for Docker to let go (usually when the connection times out) and then pulls from elsewhere, for up to 1 min. " +
          "Stuck for longer? Restart Docker and run the same command again: images already pulled stay.",
      );
      expect((await verifyImages(engine, plan)).map((c) => c.status)).to.deep.equal(["ok", "ok", "ok"]);
    });
  });

  it("gives up on an image the engine keeps holding, asking for a Docker restart instead of falling back", async () => {
    // As above, but the vanished laptop's connections do not time out within the wait.
    await withRegistryThatNeverAnswersLayers(async ({ silentHost, pull }) => {
      const fullPlan = planPull(venue.lock, "linux/amd64");
      const plan = { ...fullPlan, images: fullPlan.images.slice(0, 1) };
      const events: PullEvent[] = [];
      const summary = await pull(plan, 2_000, (event) => events.push(event));
      const restart =
        "Docker is still holding a download from a registry that stopped answering, after 1 min; " +
        "restart Docker (that ends it) and run the same command again: images already pulled stay";
      expect(summary.images).to.deep.equal([]);
      expect(summary.failed).to.deep.equal([{ workshopName: plan.images[0].workshopName, error: restart }]);
      expect(events.filter((e) => e.type === "image-waiting")).to.have.length(1);
      // Docker Hub would join the same held download: the image is not sent there.
      expect(events.filter((e) => e.type === "image-fallback")).to.deep.equal([]);
      expect(events.filter((e) => e.type === "registry-down").map((e) => (e as Extract<PullEvent, { type: "registry-down" }>).registry)).to.deep.equal([silentHost]);
      expect(events.at(-1)).to.deep.equal({ type: "image-failed", index: 0, image: plan.images[0].workshopName, error: restart });
    });
  });

  it("stops asking a source registry that answers 429, and says how to get past its limit", async () => {
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    const downVenue = await startTestVenue({ images, hub: venue.hub });
    const { lock } = await fetchVenueLock([downVenue.frontDoor]);
    await downVenue.replicas[0].kill();
    const limited = await startRateLimitedRegistry(venue.hub);
    const fullPlan = planPull(lock, "linux/amd64");
    const plan = JSON.parse(JSON.stringify(fullPlan).split(venue.hub.host).join(limited.host)) as PullPlan;
    const events: PullEvent[] = [];
    try {
      const summary = await pullImages(plan, { engine, registries: [downVenue.frontDoor], retryDelayMs: 20, concurrency: 1, onEvent: (e) => events.push(e) });
      const limit = rateLimitFailure(limited.host);
      expect(summary.images).to.deep.equal([]);
      expect(summary.failed.map((f) => [f.workshopName, f.advice])).to.deep.equal(plan.images.map((i) => [i.workshopName, limit.advice]));
      for (const failure of summary.failed) expect(failure.error).to.match(/^venue: .*502 Bad Gateway; fallback: /).and.satisfy((e: string) => e.endsWith(`; fallback: ${limit.error}`));
      // One pull was turned away, without retries; the other images did not ask.
      const fallbackFailures = events.filter((e): e is Extract<PullEvent, { type: "attempt-failed" }> => e.type === "attempt-failed" && e.reference.startsWith(limited.host));
      expect(fallbackFailures.map((e) => [e.index, e.attempt, e.error, e.retryInMs])).to.deep.equal([
        [0, 1, "toomanyrequests: You have reached your pull rate limit.", undefined],
      ]);
      const turnedAway = () => fs.readFileSync(limited.accessLog, "utf8").split("\n").filter((line) => / 429 /.test(line));
      await waitFor("nginx to log the 429", async () => turnedAway().length >= 1, 3_000);
      expect(turnedAway()).to.have.length(1);
    } finally {
      await limited.stop();
      await dockerd.stop();
    }
  });

  it("falls back to the source registry for every image when the venue's registries are down, and says so", async () => {
    const dockerd = await startDockerd();
    const engine = engineFor(dockerd);
    const downVenue = await startTestVenue({ images, hub: venue.hub });
    const { lock } = await fetchVenueLock([downVenue.frontDoor]);
    await downVenue.replicas[0].kill();
    const plan = planPull(lock, "linux/amd64");

    const noFallback = await pullImages(plan, { engine, registries: [downVenue.frontDoor], retryDelayMs: 20, fallback: false });
    expect(noFallback.images).to.deep.equal([]);
    expect(noFallback.failed.map((f) => f.workshopName).sort()).to.deep.equal(["workshop/app:latest", "workshop/hello:1.0", "workshop/tools:2-alpine"]);
    expect(noFallback.failed[0].error).to.match(/\(fallback to 127\.0\.0\.1:\d+\/\S+ is off: --no-fallback\)$/);

    const summary = await pullImages(plan, { engine, registries: [downVenue.frontDoor], retryDelayMs: 20 });
    expect(summary.failed).to.deep.equal([]);
    expect(summary.images.map((i) => [i.workshopName, i.origin, i.registry]).sort()).to.deep.equal([
      ["workshop/app:latest", "fallback", venue.hub.host],
      ["workshop/hello:1.0", "fallback", venue.hub.host],
      ["workshop/tools:2-alpine", "fallback", venue.hub.host],
    ]);
    const notice = fallbackNotice(summary)!;
    expect(notice.split("\n")[0]).to.equal("Notice: 3 images came from the internet instead of the venue:");
    for (const image of plan.images) expect(notice).to.include(`  ${image.workshopName} from ${sourceReference(image.image)}, because ${downVenue.frontDoor}: `);
    expect(notice).to.match(/502 Bad Gateway/);
    expect(dockerd.docker(["run", "--rm", "--network", "none", "workshop/app:latest"]).trim()).to.equal("team/app:latest linux/amd64");
    expect((await verifyImages(engine, plan)).map((c) => c.status)).to.deep.equal(["ok", "ok", "ok"]);
    await dockerd.stop();
  });
});

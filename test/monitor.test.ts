import { expect } from "chai";
import * as fs from "fs";
import * as http from "http";
import { MonitorStatus, normalizeLanAddress, attendeeCommandsFor, parseListenAddress } from "../lib/monitor";
import { bytesPerAttendee } from "../lib/capacity-planner";
import { FixtureImage, sha256 } from "./support/fixtures";
import { getFrom, MonitoredVenue, pullOverHttp, startMonitoredVenue } from "./support/monitored-venue";
import { RunningDockerd, startDockerd, waitFor } from "./support/services";

function platformOf(image: FixtureImage, platform: string) {
  return image.platforms.find((p) => p.platform === platform)!;
}

/** Body bytes of a pull of one platform by a client that has none of its layers yet. */
function fullPullBytes(image: FixtureImage, platform: string): number {
  const p = platformOf(image, platform);
  const manifests = image.digest === p.manifestDigest ? p.manifest.length : image.topManifest.length + p.manifest.length;
  return manifests + p.config.size + p.layers.reduce((sum, l) => sum + l.size, 0);
}

async function eventually(monitor: MonitoredVenue["monitor"], done: (s: MonitorStatus) => boolean, what: string, timeoutMs = 10_000): Promise<MonitorStatus> {
  await waitFor(what, async () => done(await monitor.refresh()), timeoutMs, 150).catch(() => undefined);
  return monitor.refresh();
}

describe("monitor (pure parts)", () => {
  it("reads listen addresses, with IPv6 brackets", () => {
    expect(parseListenAddress("0.0.0.0:8080")).to.deep.equal({ host: "0.0.0.0", port: 8080 });
    expect(parseListenAddress("[::]:5000")).to.deep.equal({ host: "::", port: 5000 });
    expect(parseListenAddress(":8080")).to.deep.equal({ host: "0.0.0.0", port: 8080 });
    expect(() => parseListenAddress("8080")).to.throw('listen address "8080" must be host:port, e.g. 0.0.0.0:8080');
  });

  it("writes each LAN address into the attendee commands", () => {
    expect(normalizeLanAddress(" http://192.168.1.20:5000/ ")).to.equal("192.168.1.20:5000");
    expect(attendeeCommandsFor("10.0.0.5:5000", ["npx -y http://{venue}/attendee/workshop-attendee.tgz"], "192.168.1.20:5000")).to.deep.equal([
      "npx -y http://10.0.0.5:5000/attendee/workshop-attendee.tgz",
    ]);
    // The stack's literal command names the first address; the others get theirs swapped in.
    expect(attendeeCommandsFor("10.0.0.5:5000", ["npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz"], "192.168.1.20:5000")).to.deep.equal([
      "npx -y http://10.0.0.5:5000/attendee/workshop-attendee.tgz",
    ]);
  });
});

describe("monitor @system", function () {
  this.timeout(120_000);
  let venue: MonitoredVenue;
  /** A second whole venue standing in for a mirror laptop: its own front door, registries and monitor. */
  let mirror: MonitoredVenue;
  let dockerd: RunningDockerd;
  let expectedBytes = 0;

  before(async () => {
    // A dockerd of its own: a fresh layer store, so the bytes it downloads are known exactly.
    [mirror, dockerd] = await Promise.all([startMonitoredVenue(), startDockerd()]);
    venue = await startMonitoredVenue({ mirrors: [mirror.frontDoorHost] });
  });
  after(async () => {
    await venue?.monitor.close();
    await mirror?.monitor.close();
  });

  it("starts with the lock's images checked in the registry and nothing pulled", async () => {
    const status = await venue.monitor.refresh();
    expect(status.images.expected).to.equal(4);
    expect(status.images.available).to.equal(3);
    expect(status.images.missing).to.deep.equal([venue.missingTarget]);
    expect(status.images.list.map((i) => [i.target, i.available, i.pulls])).to.deep.equal([
      ["library/hello:1.0", true, 0],
      ["library/tools:2-alpine", true, 0],
      ["team/app:latest", true, 0],
      ["workshop/missing:1", false, 0],
    ]);
    expect(status.downloads.active).to.equal(0);
    expect(status.clients).to.deep.equal({ distinct: 0, recent: 0, recentWindowMinutes: 5 });
    expect(status.health.frontDoor?.healthy).to.equal(true);
    expect(status.health.replicas.map((r) => r.healthy)).to.deep.equal([true, true]);
    expect(status.problems.map((p) => p.what)).to.deep.equal([
      "1 of 4 images are not in the registry: workshop/missing:1. Attendees get those from Docker Hub.",
    ]);
    expect(status.venue.addresses).to.deep.equal([
      { address: "192.168.1.20:5000", url: "http://192.168.1.20:5000", commands: ["npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz"] },
      { address: "10.20.0.5:5000", url: "http://10.20.0.5:5000", commands: ["npx -y http://10.20.0.5:5000/attendee/workshop-attendee.tgz"] },
    ]);
  });

  it("shows a mirror laptop's health and throughput from its front door, and counts it as serving", async () => {
    const [, tools] = mirror.images;
    const served = await pullOverHttp(mirror.frontDoorUrl, "127.0.0.6", tools, "linux/amd64");
    expect(served).to.equal(fullPullBytes(tools, "linux/amd64"));
    // The mirror's own monitor spreads those bytes over its 15 s window; ours reads its /api/status.
    const windowSeconds = mirror.monitor.status().traffic.windowSeconds;
    const status = await eventually(
      venue.monitor,
      (s) => Math.abs((s.mirrors[0]?.throughputBytesPerSecond ?? 0) - served / windowSeconds) < 1e-6 && s.mirrors[0].activeDownloads === 0,
      "the mirror's pull to show in its throughput",
    );
    expect(status.mirrors).to.have.length(1);
    expect(status.mirrors[0]).to.include({ address: mirror.frontDoorHost, healthy: true, problem: null, activeDownloads: 0 });
    expect(status.mirrors[0].throughputBytesPerSecond).to.be.closeTo(served / windowSeconds, 1e-6);
    expect(status.capacity.servingLaptops).to.equal(2);
    expect(status.capacity.plan.servingLaptops).to.equal(2);
    // The mirror's pull is its own: this venue served nothing.
    expect(status.traffic.bytesServed).to.equal(0);
    expect(status.problems.map((p) => p.what)).to.deep.equal([
      "1 of 4 images are not in the registry: workshop/missing:1. Attendees get those from Docker Hub.",
    ]);
  });

  it("counts real pulls through the front door: pulls per image, bytes, distinct machines", async () => {
    const [hello, tools, app] = venue.images;
    // Machine 1 (127.0.0.1): the real dockerd, by tag and by digest. The app image shares hello's
    // busybox layer, which dockerd already has by then.
    dockerd.docker(["pull", `${venue.frontDoorHost}/${hello.repository}:${hello.tag}`]);
    dockerd.docker(["pull", `${venue.frontDoorHost}/${app.repository}@${app.digest}`]);
    const dockerBytes =
      fullPullBytes(hello, "linux/amd64") + fullPullBytes(app, "linux/amd64") - platformOf(app, "linux/amd64").layers[0].size;
    // Machine 2 (127.0.0.2): arm64 of tools.
    const machine2 = await pullOverHttp(venue.frontDoorUrl, "127.0.0.2", tools, "linux/arm64");
    expect(machine2).to.equal(fullPullBytes(tools, "linux/arm64"));
    // Machine 3 (127.0.0.3): the lock file, a HEAD (not a pull), and the app.
    const lockDownload = await getFrom("127.0.0.3", `${venue.frontDoorUrl}/attendee/venue-lock.json`);
    expect(lockDownload).to.deep.equal({ status: 200, bytes: Buffer.byteLength(venue.lockText) });
    expect((await getFrom("127.0.0.3", `${venue.frontDoorUrl}/v2/${hello.repository}/manifests/${hello.digest}`, "HEAD")).status).to.equal(200);
    await pullOverHttp(venue.frontDoorUrl, "127.0.0.3", app, "linux/amd64");
    expectedBytes = dockerBytes + fullPullBytes(tools, "linux/arm64") + Buffer.byteLength(venue.lockText) + fullPullBytes(app, "linux/amd64");

    const status = await eventually(
      venue.monitor,
      (s) => s.traffic.bytesServed >= expectedBytes && s.clients.distinct >= 3,
      "the access log to show every request",
    );
    const log = fs.readFileSync(venue.accessLog, "utf8");
    expect(status.images.list.map((i) => [i.target, i.pulls]), log).to.deep.equal([
      ["library/hello:1.0", 1],
      ["library/tools:2-alpine", 1],
      ["team/app:latest", 2],
      ["workshop/missing:1", 0],
    ]);
    expect(status.traffic.bytesServed, log).to.equal(expectedBytes);
    expect(status.clients).to.deep.equal({ distinct: 3, recent: 3, recentWindowMinutes: 5 });
    expect(status.capacity.pullsByPlatform).to.deep.equal({ "linux/amd64": 3, "linux/arm64": 1 });
    expect(status.capacity.mixMeasured).to.equal(true);
    expect(status.capacity.platformMix).to.deep.equal({ "linux/amd64": 0.75, "linux/arm64": 0.25 });
    expect(status.capacity.bytesPerAttendee).to.equal(
      Math.round(0.75 * venue.lock.totals["linux/amd64"] + 0.25 * venue.lock.totals["linux/arm64"]),
    );
    expect(status.capacity.bytesPerAttendee).to.equal(bytesPerAttendee(venue.lock.totals, { "linux/amd64": 3, "linux/arm64": 1 }));
    expect(status.traffic.throughputBytesPerSecond).to.be.greaterThan(0);
    expect(status.traffic.peakThroughputBytesPerSecond).to.be.at.least(status.traffic.throughputBytesPerSecond);
    expect(status.capacity.plan.totalBytes).to.equal(700 * status.capacity.bytesPerAttendee);
    expect(status.downloads.active).to.equal(0);
  });

  it("shows a download held open as active, then ends", async () => {
    // Far larger than loopback socket buffers (32 MiB here), linked in its repository, so the front
    // door sends it from storage with sendfile.
    const data = Buffer.alloc(96 << 20, 0x5a);
    const digest = sha256(data);
    const start = await fetch(`${venue.writer.url}/v2/scratch/big/blobs/uploads/`, { method: "POST" });
    await start.arrayBuffer();
    const location = new URL(start.headers.get("location")!, venue.writer.url);
    location.searchParams.set("digest", digest);
    const put = await fetch(location, { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" } });
    await put.arrayBuffer();
    expect(put.status).to.equal(201);

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${venue.frontDoorUrl}/v2/scratch/big/blobs/${digest}`, { localAddress: "127.0.0.4", agent: false }, resolve).on("error", reject);
    });
    expect(response.statusCode).to.equal(200);
    response.pause();
    let received = 0;
    try {
      const held = await eventually(venue.monitor, (s) => s.downloads.active === 1, "the held download to show as active");
      expect(held.downloads.active).to.equal(1);
      await new Promise((r) => setTimeout(r, 500));
      expect((await venue.monitor.refresh()).downloads.active).to.equal(1);
    } finally {
      response.on("data", (chunk: Buffer) => (received += chunk.length));
      const ended = new Promise((resolve) => response.on("end", resolve));
      response.resume();
      await ended;
    }
    expect(received).to.equal(data.length);
    const after = await eventually(
      venue.monitor,
      (s) => s.downloads.active === 0 && s.traffic.bytesServed === expectedBytes + data.length,
      "the download to end and be logged",
    );
    expect(after.downloads.active).to.equal(0);
    expect(after.traffic.bytesServed).to.equal(expectedBytes + data.length);
    expect(after.clients.distinct).to.equal(4);
  });

  it("serves the same status as JSON, through the front door too, and streams it at /events", async () => {
    const direct = venue.monitor.url;
    const viaFrontDoor = (await (await fetch(`${venue.frontDoorUrl}/api/status`)).json()) as MonitorStatus;
    const current = venue.monitor.status();
    expect(viaFrontDoor.images).to.deep.equal(current.images);
    expect(viaFrontDoor.traffic.bytesServed).to.equal(current.traffic.bytesServed);
    expect(viaFrontDoor.clients).to.deep.equal(current.clients);

    expect(await (await fetch(`${direct}/healthz`)).json()).to.deep.equal({ status: "ok" });
    const post = await fetch(`${direct}/api/status`, { method: "POST" });
    expect([post.status, await post.text()]).to.deep.equal([405, "The monitor is read-only: use GET.\n"]);
    expect((await fetch(`${direct}/nothing`)).status).to.equal(404);
    const slides = await (await fetch(`${venue.frontDoorUrl}/slides`)).text();
    expect(slides).to.contain("http://192.168.1.20:5000").and.contain("npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz");

    // A dashboard following /events through the front door is not a download.
    const controller = new AbortController();
    const stream = await fetch(`${venue.frontDoorUrl}/events`, { signal: controller.signal });
    expect(stream.headers.get("content-type")).to.equal("text/event-stream; charset=utf-8");
    const reader = stream.body!.getReader();
    let text = "";
    const deadline = Date.now() + 10_000;
    while (!/event: status\ndata: .*\n\n[\s\S]*event: status\ndata: .*\n\n/.test(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    const events = [...text.matchAll(/event: status\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]) as { status: MonitorStatus; sections: Record<string, string> });
    expect(events.length).to.be.at.least(2);
    expect(events[1].status.images.available).to.equal(3);
    expect(Object.keys(events[1].sections)).to.deep.equal(["summary", "problems", "health", "mirrors", "join", "images", "footer"]);
    expect((await venue.monitor.refresh()).downloads.active).to.equal(0);
    controller.abort();
  });

  it("shows a stopped replica as unhealthy, and the venue still serving", async () => {
    await venue.replicas[1].stop();
    const status = await eventually(venue.monitor, (s) => s.health.replicas[1]?.healthy === false, "replica 2 to show as down");
    expect(status.health.replicas.map((r) => [r.name, r.healthy, r.problem])).to.deep.equal([
      ["replica 1", true, null],
      ["replica 2", false, "connection refused (nothing listening there)"],
    ]);
    expect(status.health.frontDoor?.healthy).to.equal(true);
    expect(status.problems.map((p) => p.what)).to.include(
      `Replica 2 (${venue.replicas[1].url}) is not answering: connection refused (nothing listening there). The front door sends its share to the others.`,
    );
    // The front door still answers pulls from the replica that is left.
    const [, , app] = venue.images;
    expect((await getFrom("127.0.0.5", `${venue.frontDoorUrl}/v2/${app.repository}/manifests/${app.digest}`)).status).to.equal(200);
  });

  it("shows a stopped mirror laptop as down with a problem line, and plans with one laptop fewer", async () => {
    expect(venue.monitor.status().capacity.servingLaptops).to.equal(2);
    await mirror.nginx.stop();
    const status = await eventually(venue.monitor, (s) => s.mirrors[0]?.healthy === false, "the mirror to show as down");
    expect(status.mirrors).to.deep.equal([
      {
        address: mirror.frontDoorHost,
        healthy: false,
        problem: "connection refused (nothing listening there)",
        throughputBytesPerSecond: null,
        activeDownloads: null,
      },
    ]);
    expect(status.capacity.servingLaptops).to.equal(1);
    expect(status.capacity.plan.servingLaptops).to.equal(1);
    expect(status.problems).to.deep.include({
      what: `Mirror laptop ${mirror.frontDoorHost} is not answering: connection refused (nothing listening there). Its attendees fail over to the other serving laptops, so they are slower.`,
      action: `On the mirror laptop, check that it is awake and on the venue network, and run \`pulumi up\` for its stack; http://${mirror.frontDoorHost}/ should show its dashboard.`,
    });
  });
});

import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { AccessLogEntry, AccessLogStats, AccessLogTail, parseAccessLogLine } from "../lib/access-log";
import { buildLock, LockedImage } from "../lib/venue-lock";
import { makeTempDir } from "./support/services";

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const T0 = Date.parse("2025-05-20T09:00:00Z");

/** A line exactly as the front door's log_format writes it. */
function logLine(fields: Partial<Record<string, string | number>>): string {
  return JSON.stringify({
    time: "2025-05-20T09:00:00+00:00",
    remote_addr: "192.168.1.50",
    method: "GET",
    uri: "/v2/",
    status: 200,
    bytes_sent: 300,
    body_bytes_sent: 2,
    request_time: 0.001,
    repository: "",
    kind: "base",
    reference: "",
    upstream: "172.18.0.3:5000",
    range: "",
    user_agent: "docker/27.3.1 go/go1.22.7",
    request_id: "5f0c1d",
    ...fields,
  });
}

function entry(fields: Partial<AccessLogEntry>): AccessLogEntry {
  return {
    timeMs: T0,
    remoteAddr: "192.168.1.50",
    method: "GET",
    uri: "/v2/",
    status: 200,
    bytesSent: 0,
    bodyBytesSent: 0,
    requestTime: 0,
    repository: "",
    kind: "other",
    reference: "",
    upstream: "",
    range: "",
    userAgent: "",
    requestId: "",
    ...fields,
  };
}

function manifestGet(repository: string, reference: string, extra: Partial<AccessLogEntry> = {}): AccessLogEntry {
  return entry({ uri: `/v2/${repository}/manifests/${reference}`, kind: "manifest", repository, reference, bodyBytesSent: 500, ...extra });
}

const postgres: LockedImage = {
  target: "workshop/postgres:15-alpine",
  repository: "workshop/postgres",
  tag: "15-alpine",
  source: "docker.io/library/postgres:15-alpine",
  sourceDigest: D("a"),
  indexDigest: D("a"),
  mediaType: "application/vnd.oci.image.index.v1+json",
  platforms: [
    { platform: "linux/amd64", digest: D("b"), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 500, bytes: 1000, blobs: [{ digest: D("1"), size: 1000 }] },
    { platform: "linux/arm64", digest: D("c"), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 500, bytes: 2000, blobs: [{ digest: D("2"), size: 2000 }] },
  ],
  mirroredAt: "2025-05-19T18:00:00Z",
};
const app: LockedImage = {
  target: "workshop/app:1",
  repository: "workshop/app",
  tag: "1",
  source: "docker.io/acme/app:1",
  sourceDigest: D("d"),
  indexDigest: D("d"),
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  platforms: [{ platform: "linux/amd64", digest: D("d"), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 400, bytes: 300, blobs: [{ digest: D("3"), size: 300 }] }],
  mirroredAt: "2025-05-19T18:00:00Z",
};
const lock = buildLock([postgres, app], ["linux/amd64", "linux/arm64"], new Date(T0));

describe("access log", () => {
  describe("parseAccessLogLine", () => {
    it("reads every documented field", () => {
      const line = logLine({
        uri: "/v2/workshop/postgres/blobs/" + D("1"),
        kind: "blob",
        repository: "workshop/postgres",
        reference: D("1"),
        status: 206,
        bytes_sent: 1400,
        body_bytes_sent: 1000,
        request_time: 2.5,
        upstream: "",
        range: "bytes=0-999",
      });
      expect(parseAccessLogLine(line)).to.deep.equal({
        timeMs: T0,
        remoteAddr: "192.168.1.50",
        method: "GET",
        uri: "/v2/workshop/postgres/blobs/" + D("1"),
        status: 206,
        bytesSent: 1400,
        bodyBytesSent: 1000,
        requestTime: 2.5,
        repository: "workshop/postgres",
        kind: "blob",
        reference: D("1"),
        upstream: "",
        range: "bytes=0-999",
        userAgent: "docker/27.3.1 go/go1.22.7",
        requestId: "5f0c1d",
      });
    });

    it("rejects lines that are not entries: blank, cut short, plain text, no time or status", () => {
      expect(parseAccessLogLine("")).to.equal(null);
      expect(parseAccessLogLine(logLine({}).slice(0, 40))).to.equal(null);
      expect(parseAccessLogLine('192.168.1.50 - - [20/May/2025:09:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2')).to.equal(null);
      expect(parseAccessLogLine(JSON.stringify({ status: 200 }))).to.equal(null);
      expect(parseAccessLogLine(JSON.stringify({ time: "2025-05-20T09:00:00+00:00", status: "200" }))).to.equal(null);
    });

    it("treats unknown kinds as other and unset numbers as zero", () => {
      const parsed = parseAccessLogLine(logLine({ kind: "upload", request_time: "-" }))!;
      expect(parsed.kind).to.equal("other");
      expect(parsed.requestTime).to.equal(0);
    });
  });

  describe("AccessLogStats", () => {
    it("counts one pull per top-manifest GET, by tag or digest, and the platform mix from platform manifests", () => {
      const stats = new AccessLogStats();
      // docker 20.10 by tag: GET tag (index), GET the amd64 manifest.
      stats.add(manifestGet("workshop/postgres", "15-alpine"));
      stats.add(manifestGet("workshop/postgres", D("b")));
      // containerd by digest: HEAD (not a pull), GET index digest, GET the arm64 manifest.
      stats.add(manifestGet("workshop/postgres", D("a"), { method: "HEAD", bodyBytesSent: 0 }));
      stats.add(manifestGet("workshop/postgres", D("a")));
      stats.add(manifestGet("workshop/postgres", D("c")));
      // A single-manifest image: its top manifest is also its amd64 manifest.
      stats.add(manifestGet("workshop/app", "1"));
      stats.add(manifestGet("workshop/app", D("d")));
      // Failures are not pulls.
      stats.add(manifestGet("workshop/app", "2", { status: 404 }));
      stats.add(manifestGet("workshop/app", D("d"), { status: 503 }));
      // Images the lock does not name: tags count as pulls, digests do not (they belong to a pull).
      stats.add(manifestGet("someone/else", "latest"));
      stats.add(manifestGet("someone/else", D("e")));
      const summary = stats.summary(lock, T0);
      expect(summary.pullsByImage).to.deep.equal([
        { target: "workshop/app:1", repository: "workshop/app", pulls: 2 },
        { target: "workshop/postgres:15-alpine", repository: "workshop/postgres", pulls: 2 },
      ]);
      expect(summary.pullsByPlatform).to.deep.equal({ "linux/amd64": 3, "linux/arm64": 1 });
      expect(summary.otherPulls).to.deep.equal({ "someone/else:latest": 1 });
      expect(summary.serverErrors).to.equal(1);
      expect(summary.requests).to.equal(11);
    });

    it("sums bytes and machines of attendee downloads only, not dashboards or health checks", () => {
      const stats = new AccessLogStats();
      stats.add(entry({ remoteAddr: "10.0.0.1", kind: "blob", repository: "workshop/app", uri: "/v2/workshop/app/blobs/" + D("3"), bodyBytesSent: 300 }));
      stats.add(manifestGet("workshop/app", "1", { remoteAddr: "10.0.0.2", bodyBytesSent: 400 }));
      stats.add(entry({ remoteAddr: "10.0.0.3", uri: "/attendee/venue-lock.json", bodyBytesSent: 2500 }));
      stats.add(entry({ remoteAddr: "10.0.0.1", kind: "blob", repository: "workshop/app", uri: "/v2/workshop/app/blobs/" + D("3"), bodyBytesSent: 300 }));
      stats.add(entry({ remoteAddr: "10.0.0.9", uri: "/events", bodyBytesSent: 90_000, requestTime: 600 }));
      stats.add(entry({ remoteAddr: "127.0.0.1", uri: "/healthz", bodyBytesSent: 60 }));
      stats.add(entry({ remoteAddr: "10.0.0.9", uri: "/v2/", kind: "base", bodyBytesSent: 2 }));
      const summary = stats.summary(lock, T0);
      expect(summary.bytesServed).to.equal(300 + 400 + 2500 + 300);
      expect(summary.blobBytesServed).to.equal(600);
      expect(summary.distinctClients).to.equal(3);
      expect(summary.requests).to.equal(7);
    });

    it("counts machines seen in the last five minutes by log time", () => {
      const stats = new AccessLogStats();
      const blob = (address: string, timeMs: number): AccessLogEntry =>
        entry({ remoteAddr: address, timeMs, kind: "blob", uri: "/v2/workshop/app/blobs/x", repository: "workshop/app" });
      stats.add(blob("10.0.0.1", T0));
      stats.add(blob("10.0.0.2", T0 + 60_000));
      stats.add(blob("10.0.0.1", T0 + 400_000));
      stats.add(blob("10.0.0.3", T0 + 100_000));
      // Five minutes before T0+400s is T0+100s: 10.0.0.1 (seen again) and 10.0.0.3 (just inside).
      const summary = stats.summary(lock, T0 + 400_000);
      expect(summary.distinctClients).to.equal(3);
      expect(summary.recentClients).to.equal(2);
      expect(summary.lastRequestAt).to.equal(new Date(T0 + 400_000).toISOString());
    });

    it("spreads a request's bytes over its duration for throughput, and keeps the peak", () => {
      const stats = new AccessLogStats();
      // 30 MB over 10 s ending at T0+10s: 3 MB in each second T0+1 .. T0+10.
      stats.add(entry({ timeMs: T0 + 10_000, kind: "blob", uri: "/v2/a/blobs/x", repository: "a", bodyBytesSent: 30_000_000, requestTime: 9.6 }));
      // The 15 s window ending at T0+10 holds all 30 MB: 2 MB/s.
      expect(stats.summary(lock, T0 + 10_000).throughputBytesPerSecond).to.equal(2_000_000);
      // Ending at T0+20 it holds seconds 6..20: five of the ten, 15 MB: 1 MB/s. The peak stays.
      const later = stats.summary(lock, T0 + 20_000);
      expect(later.throughputBytesPerSecond).to.equal(1_000_000);
      expect(later.peakThroughputBytesPerSecond).to.equal(2_000_000);
      // A quick request counts in its last second only.
      stats.add(entry({ timeMs: T0 + 20_500, kind: "blob", uri: "/v2/a/blobs/y", repository: "a", bodyBytesSent: 1_500_000, requestTime: 0.2 }));
      expect(stats.summary(lock, T0 + 20_000).throughputBytesPerSecond).to.equal(1_100_000);
      expect(stats.summary(lock, T0 + 60_000).throughputBytesPerSecond).to.equal(0);
    });

    it("counts lines it cannot read instead of failing", () => {
      const stats = new AccessLogStats();
      stats.addLine("not json");
      stats.addLine(logLine({}));
      const summary = stats.summary(undefined, T0);
      expect(summary.unparsableLines).to.equal(1);
      expect(summary.requests).to.equal(1);
      expect(summary.pullsByImage).to.deep.equal([]);
    });
  });

  describe("AccessLogTail", () => {
    let dir: string;
    let file: string;
    let lines: string[];
    let tail: AccessLogTail;

    beforeEach(() => {
      dir = makeTempDir("access-log");
      file = path.join(dir, "access.json");
      lines = [];
      tail = new AccessLogTail(file, (line) => lines.push(line));
    });
    afterEach(() => tail.close());

    it("waits for the file, then reads it from the start", () => {
      expect(tail.poll()).to.equal(0);
      expect(tail.status.state).to.equal("waiting-for-file");
      expect(tail.status.problem).to.equal(`${file} does not exist yet; nginx creates it on its first request`);
      fs.writeFileSync(file, "one\ntwo\n");
      expect(tail.poll()).to.equal(8);
      expect(lines).to.deep.equal(["one", "two"]);
      expect(tail.status.state).to.equal("following");
    });

    it("holds back a line until its newline arrives", () => {
      fs.writeFileSync(file, "one\ntw");
      tail.poll();
      expect(lines).to.deep.equal(["one"]);
      fs.appendFileSync(file, "o\nthree\n");
      tail.poll();
      expect(lines).to.deep.equal(["one", "two", "three"]);
      expect(tail.poll()).to.equal(0);
    });

    it("follows a rotation: the old file to its end, then the new one from its start", () => {
      fs.writeFileSync(file, "one\n");
      tail.poll();
      fs.appendFileSync(file, "two\n");
      fs.renameSync(file, `${file}.1`);
      // nginx keeps writing the renamed file until it is told to reopen.
      fs.appendFileSync(`${file}.1`, "three\n");
      fs.writeFileSync(file, "four\n");
      tail.poll();
      expect(lines).to.deep.equal(["one", "two", "three", "four"]);
      expect(tail.status.rotations).to.equal(1);
    });

    it("starts over after a truncation in place (copytruncate)", () => {
      fs.writeFileSync(file, "one\ntwo\n");
      tail.poll();
      fs.truncateSync(file, 0);
      fs.appendFileSync(file, "three\n");
      tail.poll();
      expect(lines).to.deep.equal(["one", "two", "three"]);
      expect(tail.status.truncations).to.equal(1);
    });

    it("reads a log larger than one read chunk completely", () => {
      const many = Array.from({ length: 20_000 }, (_, i) => logLine({ request_id: `r${i}` }));
      fs.writeFileSync(file, `${many.join("\n")}\n`);
      tail.poll();
      expect(lines.length).to.equal(20_000);
      expect(lines[19_999]).to.equal(many[19_999]);
      expect(tail.status.offset).to.equal(fs.statSync(file).size);
    });
  });
});

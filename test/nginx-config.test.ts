import { expect } from "chai";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import {
  NginxConfigOptions,
  frontDoorContainerOptions,
  privateNetworks,
  renderNginxConfig,
} from "../lib/nginx-config";
import { FixtureImage, buildFixtureImage, buildFixtureSet, pushFixtures, sparseFile } from "./support/fixtures";
import { LocalFrontDoor, startLocalFrontDoor } from "./support/front-door";
import { RunningRegistry, freePort, nginxTest, sharedDockerdInstance, startRegistry, waitFor } from "./support/services";

/** The fields docs/architecture.md promises the monitor, in order. */
const accessLogFields = [
  "time",
  "remote_addr",
  "method",
  "uri",
  "status",
  "bytes_sent",
  "body_bytes_sent",
  "request_time",
  "repository",
  "kind",
  "reference",
  "upstream",
  "range",
  "user_agent",
  "request_id",
];

describe("nginx-config", () => {
  it("names the stack's replicas, monitor and container paths", () => {
    const options = frontDoorContainerOptions(3);
    expect(options.replicas).to.deep.equal(["venue-replica-1:5000", "venue-replica-2:5000", "venue-replica-3:5000"]);
    expect(options.monitor).to.equal("venue-monitor:8080");
    expect(options.listenPort).to.equal(8080);
    expect(options.status).to.deep.equal({ port: 8081, allow: privateNetworks });
    expect(options.storageRoot).to.equal("/var/lib/registry");
    expect(options.attendeeDirectory).to.equal("/srv/venue/attendee");
    expect(options.accessLog).to.equal("/var/log/venue/access.json");
    expect(options.errorLog).to.equal("stderr");
    expect(frontDoorContainerOptions(1, { listenPort: 9000 }).listenPort).to.equal(9000);
  });

  it("refuses a replica count below one", () => {
    expect(() => frontDoorContainerOptions(0)).to.throw("The front door needs at least one replica; replicaCount was 0.");
  });

  it("sizes workers for 700 laptops x 3 layers, each also holding a replica connection", () => {
    const config = renderNginxConfig(frontDoorContainerOptions(2));
    const connections = Number(/worker_connections (\d+);/.exec(config)![1]);
    const files = Number(/worker_rlimit_nofile (\d+);/.exec(config)![1]);
    expect(connections).to.be.at.least(700 * 3 * 2);
    expect(files).to.be.at.least(connections * 2);
    expect(config).to.contain("worker_processes auto;");
    expect(config).to.contain("listen 8080 backlog=4096 reuseport;");
    expect(config).to.contain("listen 8081;");
    expect(config).to.contain("server venue-replica-1:5000 max_fails=1 fail_timeout=5s;");
    expect(config).to.contain("server venue-replica-2:5000 max_fails=1 fail_timeout=5s;");
    expect(config).to.contain("proxy_next_upstream_tries 2;");
    expect(config).to.contain("proxy_buffering off;");
    expect(config).to.contain("proxy_read_timeout 900s;");
  });

  it("leaves the user directive out unless asked, and writes it when given", () => {
    expect(renderNginxConfig(frontDoorContainerOptions(1))).not.to.match(/^user /m);
    expect(renderNginxConfig(frontDoorContainerOptions(1, { user: "nginx" }))).to.match(/^user "nginx";$/m);
  });

  it("allows stub_status only to the listed sources", () => {
    const config = renderNginxConfig(frontDoorContainerOptions(1));
    const statusBlock = /location = \/stub_status \{([^}]*)\}/.exec(config)![1];
    expect(statusBlock.trim().split(/\s*\n\s*/)).to.deep.equal([
      "stub_status;",
      "allow 127.0.0.1;",
      "allow 10.0.0.0/8;",
      "allow 172.16.0.0/12;",
      "allow 192.168.0.0/16;",
      "deny all;",
    ]);
  });

  it("can send every blob through the replicas", () => {
    expect(renderNginxConfig(frontDoorContainerOptions(1))).to.contain("_layers/sha256/");
    expect(renderNginxConfig(frontDoorContainerOptions(1, { blobFastPath: false }))).not.to.contain("_layers/sha256/");
  });

  it("lists every invalid option at once", () => {
    const options: NginxConfigOptions = {
      ...frontDoorContainerOptions(1),
      replicas: ["venue-replica-1", "ok:5000"],
      monitor: "monitor;evil:80",
      storageRoot: "relative/path",
      accessLog: "/var/log/$host.json",
      listenPort: 70000,
      status: { port: 8081, allow: [] },
      user: "root; worker_processes 1",
    };
    expect(() => renderNginxConfig(options)).to.throw(
      [
        "Cannot write the front door's nginx.conf:",
        "- listenPort must be a port number (1-65535), got 70000",
        '- replica "venue-replica-1" must be host:port',
        '- monitor "monitor;evil:80" must be host:port',
        "- status.allow must list who may read stub_status (e.g. 127.0.0.1)",
        '- storageRoot must be an absolute path of letters, digits and ._-/+@~,= (got "relative/path")',
        '- accessLog must be an absolute path of letters, digits and ._-/+@~,= (got "/var/log/$host.json")',
        '- user "root; worker_processes 1" is not a Unix user name',
      ].join("\n"),
    );
  });

  it("refuses an empty replica list", () => {
    expect(() => renderNginxConfig({ ...frontDoorContainerOptions(1), replicas: [] })).to.throw(
      "- replicas must name at least one registry replica as host:port",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Real nginx, real registries, real dockerd
// ---------------------------------------------------------------------------------------------

interface FetchedBody {
  status: number;
  headers: http.IncomingHttpHeaders;
  length: number;
  digest: string;
  body: Buffer | undefined;
}

/**
 * One request over a fresh connection, the body streamed through SHA-256 (large blobs never sit in
 * memory). Keeps the body only when it is small.
 */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<FetchedBody> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? "GET", headers: options.headers, localAddress: options.localAddress, agent: false },
      (response) => {
        const hash = crypto.createHash("sha256");
        const chunks: Buffer[] = [];
        let length = 0;
        response.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
          if (length <= 1 << 20) chunks.push(chunk);
        });
        response.on("end", () =>
          resolve({
            status: response.statusCode!,
            headers: response.headers,
            length,
            digest: `sha256:${hash.digest("hex")}`,
            body: length <= 1 << 20 ? Buffer.concat(chunks) : undefined,
          }),
        );
        response.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

function json(fetched: FetchedBody): unknown {
  return JSON.parse(fetched.body!.toString("utf8"));
}

/** The headers a client can observe, minus those that differ per response or per server. */
function comparableHeaders(headers: http.IncomingHttpHeaders): Record<string, unknown> {
  const { date: _date, connection: _connection, "keep-alive": _keepAlive, server: _server, ...rest } = headers;
  return rest;
}

type AccessLogLine = Record<string, unknown>;

function readAccessLog(file: string): AccessLogLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as AccessLogLine);
}

/** The access log is buffered (flush=1s): wait until the expected lines are written. */
async function accessLogLines(file: string, match: (line: AccessLogLine) => boolean, count = 1): Promise<AccessLogLine[]> {
  let found: AccessLogLine[] = [];
  await waitFor(`${count} matching line(s) in ${file}`, async () => {
    found = readAccessLog(file).filter(match);
    return found.length >= count;
  }, 10_000, 200);
  return found;
}

type FrontDoor = LocalFrontDoor;

function startFrontDoor(
  storageRoot: string,
  replicas: RunningRegistry[],
  monitorPort: number,
  overrides: Partial<NginxConfigOptions> = {},
): Promise<FrontDoor> {
  // Only 127.0.0.2 may read stub_status, so a request from 127.0.0.1 shows that deny works.
  return startLocalFrontDoor({ storageRoot, replicas, monitorPort, statusAllow: ["127.0.0.2"], readyPath: "/attendee/", overrides });
}

/** A stand-in for the dashboard upstream (not under test): echoes the path, streams events on /events. */
class DashboardUpstream {
  readonly paths: string[] = [];
  private releaseEvents: Array<() => void> = [];
  private server = http.createServer((req, res) => {
    this.paths.push(req.url!);
    if (req.url === "/events") {
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      res.write("data: first\n\n");
      this.releaseEvents.push(() => res.end("data: second\n\n"));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`dashboard ${req.method} ${req.url}`);
  });

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
  }

  release(): void {
    for (const release of this.releaseEvents.splice(0)) release();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function blobsOf(image: FixtureImage) {
  return image.platforms.flatMap((p) => [p.config, ...p.layers]);
}

describe("front door nginx @system", function () {
  let writer: RunningRegistry;
  let replicas: RunningRegistry[];
  let frontDoor: FrontDoor;
  let dashboard: DashboardUpstream;
  let images: FixtureImage[];
  let runnable: FixtureImage;

  before(async function () {
    writer = await startRegistry();
    images = buildFixtureSet();
    // Own content, so dockerd cannot find these layers in its store from another test's pull.
    runnable = buildFixtureImage({
      repository: "frontdoor/hello",
      tag: "1.0",
      format: "docker",
      platforms: ["linux/amd64"],
      single: true,
      payloadBytes: 256 * 1024,
      label: "front door fixture",
    });
    await pushFixtures(writer.url, [...images, runnable]);
    replicas = [
      await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
      await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
    ];
    dashboard = new DashboardUpstream();
    const monitorPort = await freePort();
    await dashboard.listen(monitorPort);
    frontDoor = await startFrontDoor(writer.rootDirectory, replicas, monitorPort);
    fs.writeFileSync(path.join(frontDoor.attendeeDirectory, "venue-lock.json"), '{"images":[]}\n');
    fs.writeFileSync(path.join(frontDoor.attendeeDirectory, "mirrors.json"), '{"mirrors":[]}\n');
    fs.writeFileSync(path.join(frontDoor.attendeeDirectory, "workshop-attendee.tgz"), Buffer.from([0x1f, 0x8b, 8, 0]));
  });

  after(async () => {
    await dashboard?.close();
  });

  it("passes nginx -t", () => {
    expect(() => nginxTest(fs.readFileSync(frontDoor.nginx.configFile, "utf8"))).not.to.throw();
  });

  it("lets the real dockerd pull through it and run the image, blobs coming from disk", async () => {
    const dockerd = await sharedDockerdInstance();
    const reference = `127.0.0.1:${frontDoor.port}/${runnable.repository}:${runnable.tag}`;
    dockerd.docker(["pull", reference]);
    const output = dockerd.docker(["run", "--rm", "--network", "none", reference]);
    expect(output.trim()).to.equal("front door fixture linux/amd64");
    const ownLayer = runnable.platforms[0].layers[1];
    const [line] = await accessLogLines(
      frontDoor.accessLog,
      (l) => l.uri === `/v2/${runnable.repository}/blobs/${ownLayer.digest}` && l.method === "GET",
    );
    expect(line).to.include({ status: 200, upstream: "", kind: "blob", repository: runnable.repository, reference: ownLayer.digest });
    expect(line.body_bytes_sent).to.equal(ownLayer.size);
  });

  it("refuses PUT, POST, PATCH and DELETE on /v2/ with a registry-style error", async () => {
    const hello = images[0];
    const layer = hello.platforms[0].layers[0];
    const attempts: Array<[string, string]> = [
      ["POST", `/v2/${hello.repository}/blobs/uploads/`],
      ["PUT", `/v2/${hello.repository}/manifests/${hello.tag}`],
      ["PATCH", `/v2/${hello.repository}/blobs/uploads/0f5b3c1e`],
      ["DELETE", `/v2/${hello.repository}/manifests/${hello.digest}`],
      ["DELETE", `/v2/${hello.repository}/blobs/${layer.digest}`],
      ["PUT", `/v2/${hello.repository}/blobs/${layer.digest}`],
      ["POST", "/v2/"],
      ["OPTIONS", "/v2"],
    ];
    for (const [method, uri] of attempts) {
      const response = await request(`${frontDoor.url}${uri}`, { method, body: method === "DELETE" ? undefined : "x" });
      expect(response.status, `${method} ${uri}`).to.equal(405);
      expect(response.headers["content-type"]).to.equal("application/json; charset=utf-8");
      expect(response.headers["docker-distribution-api-version"]).to.equal("registry/2.0");
      expect(response.headers.allow).to.equal("GET, HEAD");
      const error = (json(response) as { errors: Array<{ code: string; message: string; detail: unknown }> }).errors[0];
      expect(error.code).to.equal("UNSUPPORTED");
      expect(error.message).to.match(/^The venue registry is read-only: .* npm run venue -- mirror$/);
      expect(error.detail).to.deep.equal({ method, allowed: ["GET", "HEAD"] });
    }
  });

  it("makes docker push through it fail and leaves the venue unchanged", async () => {
    const catalog = async () => json(await request(`${writer.url}/v2/_catalog`));
    const tagDigest = async (repository: string, tag: string) =>
      (
        await request(`${writer.url}/v2/${repository}/manifests/${tag}`, {
          method: "HEAD",
          headers: { Accept: [images[0].mediaType, images[1].mediaType, runnable.mediaType].join(", ") },
        })
      ).headers["docker-content-digest"];
    const before = { catalog: await catalog(), digest: await tagDigest(runnable.repository, runnable.tag) };
    expect(before.digest).to.equal(runnable.digest);

    const dockerd = await sharedDockerdInstance();
    const source = `127.0.0.1:${frontDoor.port}/${runnable.repository}:${runnable.tag}`;
    dockerd.docker(["pull", source]);
    for (const target of [`127.0.0.1:${frontDoor.port}/attendee/pushed:1`, `127.0.0.1:${frontDoor.port}/${runnable.repository}:${runnable.tag}`]) {
      dockerd.docker(["tag", source, target]);
      let failure = "";
      try {
        dockerd.docker(["push", target], { timeoutMs: 60_000 });
      } catch (error) {
        failure = String((error as { stderr?: string }).stderr ?? error);
      }
      expect(failure, `docker push ${target}`).to.contain("unsupported: The venue registry is read-only");
    }
    expect(await catalog()).to.deep.equal(before.catalog);
    expect(await tagDigest(runnable.repository, runnable.tag)).to.equal(before.digest);
  });

  it("serves linked blobs from disk with the registry's bytes and headers", async () => {
    for (const image of images) {
      for (const blob of blobsOf(image)) {
        const uri = `/v2/${image.repository}/blobs/${blob.digest}`;
        const viaFrontDoor = await request(`${frontDoor.url}${uri}`);
        const direct = await request(`${replicas[0].url}${uri}`);
        expect(viaFrontDoor.status, uri).to.equal(200);
        expect(viaFrontDoor.digest, uri).to.equal(blob.digest);
        expect(viaFrontDoor.digest).to.equal(direct.digest);
        expect(comparableHeaders(viaFrontDoor.headers), uri).to.deep.equal(comparableHeaders(direct.headers));
      }
    }
    const hello = images[0];
    const uri = `/v2/${hello.repository}/blobs/${hello.platforms[0].layers[1].digest}`;
    const lines = await accessLogLines(frontDoor.accessLog, (l) => l.uri === uri);
    expect(lines.map((l) => l.upstream)).to.deep.equal([""]);
  });

  it("answers HEAD and Range on the fast path as the registry does", async () => {
    const blob = images[1].platforms[0].layers[1];
    const uri = `/v2/${images[1].repository}/blobs/${blob.digest}`;
    const head = await request(`${frontDoor.url}${uri}`, { method: "HEAD" });
    expect(head.status).to.equal(200);
    expect(head.length).to.equal(0);
    expect(head.headers["content-length"]).to.equal(String(blob.size));
    expect(comparableHeaders(head.headers)).to.deep.equal(
      comparableHeaders((await request(`${replicas[0].url}${uri}`, { method: "HEAD" })).headers),
    );

    for (const [range, start, end] of [
      ["bytes=10-19", 10, 19],
      [`bytes=${blob.size - 100}-`, blob.size - 100, blob.size - 1],
      ["bytes=-7", blob.size - 7, blob.size - 1],
    ] as const) {
      const partial = await request(`${frontDoor.url}${uri}`, { headers: { Range: range } });
      expect(partial.status, range).to.equal(206);
      expect(partial.headers["content-range"]).to.equal(`bytes ${start}-${end}/${blob.size}`);
      expect(partial.body!.equals(blob.data.subarray(start, end + 1)), range).to.equal(true);
      const direct = await request(`${replicas[0].url}${uri}`, { headers: { Range: range } });
      expect(comparableHeaders(partial.headers), range).to.deep.equal(comparableHeaders(direct.headers));
    }
    const [rangeLine] = await accessLogLines(frontDoor.accessLog, (l) => l.uri === uri && l.range === "bytes=10-19");
    expect(rangeLine).to.include({ status: 206, body_bytes_sent: 10, upstream: "" });
  });

  it("does not serve from disk a blob the requested repository does not link", async () => {
    const foreign = images[1].platforms[0].layers[1]; // library/tools' own layer
    const uri = `/v2/team/app/blobs/${foreign.digest}`;
    for (const method of ["GET", "HEAD"]) {
      const response = await request(`${frontDoor.url}${uri}`, { method });
      expect(response.status, method).to.equal(404);
      expect(response.headers["docker-distribution-api-version"]).to.equal("registry/2.0");
      if (method === "GET") {
        expect(json(response)).to.deep.equal({
          errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry", detail: foreign.digest }],
        });
      }
    }
    const lines = await accessLogLines(frontDoor.accessLog, (l) => l.uri === uri, 2);
    expect(replicas.map((r) => r.host)).to.include.members(lines.map((l) => l.upstream));
    expect(lines.map((l) => l.status)).to.deep.equal([404, 404]);
  });

  it("proxies manifests, tags and the catalog to the replicas", async () => {
    const hello = images[0];
    const manifest = await request(`${frontDoor.url}/v2/${hello.repository}/manifests/${hello.tag}`, {
      headers: { Accept: hello.mediaType },
    });
    expect(manifest.status).to.equal(200);
    expect(manifest.digest).to.equal(hello.digest);
    expect(manifest.headers["docker-content-digest"]).to.equal(hello.digest);
    expect(json(await request(`${frontDoor.url}/v2/${hello.repository}/tags/list`))).to.deep.equal({ name: hello.repository, tags: ["1.0"] });
    expect(json(await request(`${frontDoor.url}/v2/_catalog`))).to.deep.equal({
      repositories: ["frontdoor/hello", "library/hello", "library/tools", "team/app"],
    });
    const base = await request(`${frontDoor.url}/v2/`);
    expect(base.status).to.equal(200);
    expect(base.headers["docker-distribution-api-version"]).to.equal("registry/2.0");
  });

  it("writes one JSON object per request with the documented fields", async () => {
    const hello = images[0];
    const stamp = crypto.randomBytes(4).toString("hex");
    const userAgent = `venue-test/${stamp} "quoted"`;
    const get = (uri: string) => request(`${frontDoor.url}${uri}`, { headers: { "User-Agent": userAgent, Accept: hello.mediaType } });
    await get(`/v2/${hello.repository}/manifests/${hello.tag}`);
    await get(`/v2/${hello.repository}/manifests/${hello.digest}`);
    await get(`/v2/${hello.repository}/tags/list`);
    await get("/v2/_catalog");
    await get("/v2/");
    await get("/attendee/venue-lock.json");
    const lines = await accessLogLines(frontDoor.accessLog, (l) => l.user_agent === userAgent, 6);
    for (const line of lines) {
      expect(Object.keys(line)).to.deep.equal(accessLogFields);
      expect(line.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
      expect(line.remote_addr).to.equal("127.0.0.1");
      expect(line.method).to.equal("GET");
      for (const numeric of ["status", "bytes_sent", "body_bytes_sent", "request_time"]) expect(line[numeric]).to.be.a("number");
      expect(line.request_id).to.match(/^[0-9a-f]{32}$/);
      expect(line.range).to.equal("");
    }
    // Each worker buffers its own lines, so the file's order is not the requests' order.
    expect(lines.map((l) => [l.uri, l.kind, l.repository, l.reference])).to.have.deep.members([
      [`/v2/${hello.repository}/manifests/${hello.tag}`, "manifest", hello.repository, hello.tag],
      [`/v2/${hello.repository}/manifests/${hello.digest}`, "manifest", hello.repository, hello.digest],
      [`/v2/${hello.repository}/tags/list`, "tags", hello.repository, ""],
      ["/v2/_catalog", "catalog", "", ""],
      ["/v2/", "base", "", ""],
      ["/attendee/venue-lock.json", "other", "", ""],
    ]);
    const byUri = new Map(lines.map((l) => [l.uri, l]));
    const tagLine = byUri.get(`/v2/${hello.repository}/manifests/${hello.tag}`)!;
    expect(tagLine.body_bytes_sent).to.equal(hello.topManifest.length);
    expect(replicas.map((r) => r.host)).to.include(tagLine.upstream);
    expect(byUri.get("/attendee/venue-lock.json")!.upstream).to.equal("");
  });

  it("serves the attendee files with their content types and lists nothing", async () => {
    const lock = await request(`${frontDoor.url}/attendee/venue-lock.json`);
    expect(lock.status).to.equal(200);
    expect(lock.headers["content-type"]).to.equal("application/json; charset=utf-8");
    expect(lock.headers["cache-control"]).to.equal("no-cache");
    expect(lock.body!.toString()).to.equal('{"images":[]}\n');
    const mirrors = await request(`${frontDoor.url}/attendee/mirrors.json`);
    expect(mirrors.headers["content-type"]).to.equal("application/json; charset=utf-8");
    const tgz = await request(`${frontDoor.url}/attendee/workshop-attendee.tgz`);
    expect(tgz.status).to.equal(200);
    expect(tgz.headers["content-type"]).to.equal("application/gzip");
    expect([...tgz.body!]).to.deep.equal([0x1f, 0x8b, 8, 0]);
    const listing = await request(`${frontDoor.url}/attendee/`);
    expect(listing.status).to.equal(404);
    expect(listing.body!.toString()).to.contain("/attendee/venue-lock.json");
    expect((await request(`${frontDoor.url}/attendee/missing.json`)).status).to.equal(404);
  });

  it("reports health with the replica that answered", async () => {
    const health = await request(`${frontDoor.url}/healthz`);
    expect(health.status).to.equal(200);
    expect(health.headers["content-type"]).to.equal("application/json; charset=utf-8");
    const body = json(health) as { status: string; frontDoor: string; replica: string };
    expect(body.status).to.equal("ok");
    expect(body.frontDoor).to.equal("ok");
    expect(replicas.map((r) => r.host)).to.include(body.replica);
  });

  it("keeps health checks out of the access log", async () => {
    const userAgent = `venue-health-check/${crypto.randomBytes(4).toString("hex")}`;
    expect((await request(`${frontDoor.url}/healthz`, { headers: { "User-Agent": userAgent } })).status).to.equal(200);
    await request(`${frontDoor.url}/attendee/mirrors.json`, { headers: { "User-Agent": userAgent } });
    await accessLogLines(frontDoor.accessLog, (l) => l.user_agent === userAgent && l.uri === "/attendee/mirrors.json");
    // Both workers flush at least once a second.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(readAccessLog(frontDoor.accessLog).filter((l) => l.user_agent === userAgent).map((l) => l.uri)).to.deep.equal([
      "/attendee/mirrors.json",
    ]);
  });

  it("sends the dashboard's paths to the monitor and streams its events unbuffered", async () => {
    for (const uri of ["/", "/slides", "/slides/2", "/guides/", "/guides/macos", "/api/state", "/static/app.js"]) {
      const response = await request(`${frontDoor.url}${uri}`);
      expect(response.status, uri).to.equal(200);
      expect(response.body!.toString()).to.equal(`dashboard GET ${uri}`);
    }
    expect((await request(`${frontDoor.url}/not-a-route`)).status).to.equal(404);

    const firstEvent = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the first event did not arrive while the stream was open")), 10_000);
      http
        .get(`${frontDoor.url}/events`, { agent: false }, (response) => {
          expect(response.headers["content-type"]).to.equal("text/event-stream");
          response.once("data", (chunk: Buffer) => {
            clearTimeout(timer);
            resolve(chunk.toString());
            response.destroy();
          });
        })
        .on("error", reject);
    });
    dashboard.release();
    expect(firstEvent).to.equal("data: first\n\n");
  });

  it("answers stub_status to allowed addresses only", async () => {
    const allowed = await request(`http://127.0.0.1:${frontDoor.statusPort}/stub_status`, { localAddress: "127.0.0.2" });
    expect(allowed.status).to.equal(200);
    expect(allowed.body!.toString()).to.match(/^Active connections: \d+ \nserver accepts handled requests\n/);
    const refused = await request(`http://127.0.0.1:${frontDoor.statusPort}/stub_status`, { localAddress: "127.0.0.1" });
    expect(refused.status).to.equal(403);
    // Not on the public port at all.
    expect((await request(`${frontDoor.url}/stub_status`)).status).to.equal(404);
  });
});

describe("front door failover @system", function () {
  let writer: RunningRegistry;
  let replicas: RunningRegistry[];
  let frontDoor: FrontDoor;
  let image: FixtureImage;

  before(async () => {
    writer = await startRegistry();
    [image] = buildFixtureSet();
    await pushFixtures(writer.url, [image]);
    replicas = [
      await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
      await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }),
    ];
    frontDoor = await startFrontDoor(writer.rootDirectory, replicas, await freePort());
  });

  it("says what to do when the dashboard is not running", async () => {
    const response = await request(`${frontDoor.url}/`);
    expect(response.status).to.equal(502);
    expect(response.body!.toString()).to.equal(
      "The venue dashboard is not running. Images can still be pulled; the facilitator should check it with: docker ps --filter name=venue-monitor\n",
    );
  });

  it("keeps answering when a replica is killed mid-run, and says so when none is left", async () => {
    const manifestUris = image.platforms.map((p) => `/v2/${image.repository}/manifests/${p.manifestDigest}`);
    const statuses: number[] = [];
    let killed = false;
    // Bounded: 600 requests, 8 at a time; the first replica dies after 150 have completed.
    let next = 0;
    const worker = async () => {
      while (next < 600) {
        const uri = manifestUris[next++ % manifestUris.length];
        const response = await request(`${frontDoor.url}${uri}`, { headers: { Accept: image.platforms[0].manifestMediaType } });
        statuses.push(response.status);
        if (statuses.length >= 150 && !killed) {
          killed = true;
          await replicas[0].kill();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(killed).to.equal(true);
    expect(statuses.length).to.equal(600);
    expect(statuses.filter((s) => s !== 200)).to.deep.equal([]);
    const health = json(await request(`${frontDoor.url}/healthz`)) as { replica: string };
    expect(health.replica).to.equal(replicas[1].host);

    await replicas[1].kill();
    const unhealthy = await request(`${frontDoor.url}/healthz`);
    expect(unhealthy.status).to.equal(503);
    expect(json(unhealthy)).to.include({ status: "unavailable", frontDoor: "ok", replica: "none answering" });
    const manifest = await request(`${frontDoor.url}${manifestUris[0]}`);
    expect(manifest.status).to.equal(503);
    expect(manifest.headers["retry-after"]).to.equal("10");
    expect((json(manifest) as { errors: Array<{ code: string }> }).errors[0].code).to.equal("UNAVAILABLE");
    // Linked blobs still come straight from the volume.
    const layer = image.platforms[0].layers[1];
    const blob = await request(`${frontDoor.url}/v2/${image.repository}/blobs/${layer.digest}`);
    expect(blob.status).to.equal(200);
    expect(blob.digest).to.equal(layer.digest);
  });
});

describe("front door with a blob over 1 GiB @system", function () {
  // Over the 1 GiB proxy_max_temp_file_size default, which cuts buffered proxies short; odd-sized so
  // an off-by-one in any buffer shows.
  const size = 1024 * 1024 * 1024 + 12_345;
  const repository = "venue/large";
  let digest: string;
  let replica: RunningRegistry;
  let storageRoot: string;

  before(async () => {
    const writer = await startRegistry();
    storageRoot = writer.rootDirectory;
    // A sparse file of zeros, placed and linked the way distribution's filesystem driver stores blobs.
    const hash = crypto.createHash("sha256");
    const zeros = Buffer.alloc(1 << 20);
    for (let left = size; left > 0; left -= zeros.length) hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    const hex = hash.digest("hex");
    digest = `sha256:${hex}`;
    const v2 = path.join(storageRoot, "docker/registry/v2");
    const blobDir = path.join(v2, "blobs/sha256", hex.slice(0, 2), hex);
    fs.mkdirSync(blobDir, { recursive: true });
    sparseFile(path.join(blobDir, "data"), size);
    const linkDir = path.join(v2, "repositories", repository, "_layers/sha256", hex);
    fs.mkdirSync(linkDir, { recursive: true });
    fs.writeFileSync(path.join(linkDir, "link"), digest);
    replica = await startRegistry({ rootDirectory: storageRoot, readOnly: true });
  });

  for (const blobFastPath of [true, false]) {
    it(`arrives whole ${blobFastPath ? "from disk (fast path)" : "through the replicas (proxied)"}`, async () => {
      const frontDoor = await startFrontDoor(storageRoot, [replica], await freePort(), { blobFastPath });
      const uri = `/v2/${repository}/blobs/${digest}`;
      const response = await request(`${frontDoor.url}${uri}`);
      expect(response.status).to.equal(200);
      expect(response.headers["content-length"]).to.equal(String(size));
      expect(response.length).to.equal(size);
      expect(response.digest).to.equal(digest);
      const [line] = await accessLogLines(frontDoor.accessLog, (l) => l.uri === uri);
      expect(line.body_bytes_sent).to.equal(size);
      expect(line.upstream).to.equal(blobFastPath ? "" : replica.host);
      await frontDoor.nginx.stop();
    });
  }
});

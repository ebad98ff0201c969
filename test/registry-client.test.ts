import { expect } from "chai";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Readable } from "stream";
import { MANIFEST_ACCEPT, sha256Digest } from "../lib/manifest";
import { DigestMismatchError, RateLimitedError, RegistryClient, RegistryError, nextPageFromLink, parseChallenge, usesPlainHttp } from "../lib/registry-client";
import { FixtureImage, buildFixtureImage, buildFixtureSet, pushFixtures } from "./support/fixtures";
import { startNginxInFront } from "./support/front-door";
import { RunningRegistry, childProcessIds, freePort, makeTempDir, requireProgram, startRegistry, waitFor } from "./support/services";
import { TokenIssuer, startTokenIssuer } from "./support/token-issuer";
import { rejection } from "./support/rejection";

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A real nginx in front of a real registry; `locations` is the server block's body. */
describe("registry-client", () => {
  it("reaches loopback and listed insecure registries over plain HTTP, others over HTTPS", () => {
    expect(usesPlainHttp("127.0.0.1:5001")).to.equal(true);
    expect(usesPlainHttp("127.10.0.3:80")).to.equal(true);
    expect(usesPlainHttp("localhost:5000")).to.equal(true);
    expect(usesPlainHttp("[::1]:5000")).to.equal(true);
    expect(usesPlainHttp("192.168.1.20:5000")).to.equal(false);
    expect(usesPlainHttp("192.168.1.20:5000", ["192.168.1.20:5000"])).to.equal(true);
    expect(new RegistryClient({ registry: "docker.io" }).baseUrl).to.equal("https://registry-1.docker.io");
    expect(new RegistryClient({ registry: "ghcr.io" }).baseUrl).to.equal("https://ghcr.io");
  });

  it("parses bearer and basic challenges and Link headers", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).to.deep.equal({
      scheme: "bearer",
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
    });
    expect(parseChallenge('Basic realm="venue"')).to.deep.equal({ scheme: "basic" });
    expect(parseChallenge(undefined)).to.deep.equal({ scheme: "none" });
    expect(nextPageFromLink('</v2/_catalog?last=b&n=2>; rel="next"')).to.equal("/v2/_catalog?last=b&n=2");
    expect(nextPageFromLink(undefined)).to.equal(undefined);
  });

  it("names the 429 wait and the fix in the rate-limit message", () => {
    expect(new RateLimitedError("docker.io", "library/postgres", 37).message).to.equal(
      "rate limited by docker.io while reading library/postgres, retry after 37 s (Docker Hub limits anonymous pulls; run docker login)",
    );
  });
});

describe("registry-client against real registries @system", function () {
  let registry: RunningRegistry;
  let images: FixtureImage[];
  let client: RegistryClient;

  before(async () => {
    registry = await startRegistry();
    images = buildFixtureSet();
    await pushFixtures(registry.url, images);
    // Both index types come from the default set; a Docker schema-2 single manifest is added here.
    const dockerSingle = buildFixtureImage({ repository: "library/single", tag: "d", format: "docker", platforms: ["linux/amd64"], single: true });
    images.push(dockerSingle);
    await pushFixtures(registry.url, [dockerSingle]);
    client = new RegistryClient({ registry: registry.host });
  });

  it("fetches every manifest media type with its exact bytes and digest", async () => {
    const seen = new Set<string>();
    for (const image of images) {
      const top = await client.getManifest(image.repository, image.tag);
      expect(top.bytes.equals(image.topManifest)).to.equal(true);
      expect(top.digest).to.equal(image.digest);
      expect(top.mediaType).to.equal(image.mediaType);
      seen.add(top.mediaType);
      for (const platform of image.platforms) {
        const child = await client.getManifest(image.repository, platform.manifestDigest);
        expect(child.bytes.equals(platform.manifest)).to.equal(true);
        seen.add(child.mediaType);
      }
    }
    expect([...seen].sort()).to.deep.equal(MANIFEST_ACCEPT.split(", ").sort());
  });

  it("answers HEAD for present and absent manifests and blobs", async () => {
    const hello = images[0];
    const head = await client.headManifest(hello.repository, hello.tag);
    expect(head).to.deep.equal({ digest: hello.digest, mediaType: hello.mediaType, size: hello.topManifest.length });
    expect(await client.headManifest(hello.repository, "no-such-tag")).to.equal(undefined);
    const layer = hello.platforms[0].layers[1];
    expect(await client.headBlob(hello.repository, layer.digest)).to.equal(layer.size);
    expect(await client.headBlob(hello.repository, sha256Digest("absent"))).to.equal(undefined);
  });

  it("streams a blob, uploads it with a streamed PUT and mounts it across repositories", async () => {
    const layer = images[0].platforms[1].layers[1];
    let counted = 0;
    const bytes = await readAll(await client.openBlob(images[0].repository, layer.digest, layer.size, (n) => (counted += n)));
    expect(bytes.equals(layer.data)).to.equal(true);
    expect(counted).to.equal(layer.size);

    const how = await client.uploadBlob("copies/one", layer.digest, layer.size, async () => Readable.from([layer.data.subarray(0, 1000), layer.data.subarray(1000)]));
    expect(how).to.equal("uploaded");
    expect(await client.headBlob("copies/one", layer.digest)).to.equal(layer.size);

    const mounted = await client.uploadBlob("copies/two", layer.digest, layer.size, async () => {
      throw new Error("a mount must not read the blob");
    }, "copies/one");
    expect(mounted).to.equal("mounted");
    expect(await client.headBlob("copies/two", layer.digest)).to.equal(layer.size);
  });

  it("stores a manifest under a digest and a tag and keeps its bytes", async () => {
    const hello = images[0];
    for (const platform of hello.platforms) {
      for (const b of [platform.config, ...platform.layers]) {
        await client.uploadBlob("copies/hello", b.digest, b.size, async () => Readable.from([b.data]), hello.repository);
      }
      expect(await client.putManifest("copies/hello", platform.manifestDigest, platform.manifest, platform.manifestMediaType)).to.equal(platform.manifestDigest);
    }
    expect(await client.putManifest("copies/hello", "v1", hello.topManifest, hello.mediaType)).to.equal(hello.digest);
    expect((await client.getManifest("copies/hello", "v1")).bytes.equals(hello.topManifest)).to.equal(true);
  });

  it("lists the catalog and tags across Link pages", async () => {
    for (const tag of ["a", "b", "c"]) await client.putManifest(images[0].repository, tag, images[0].topManifest, images[0].mediaType);
    const tags = await client.listTags(images[0].repository, 2);
    expect(tags.sort()).to.deep.equal(["1.0", "a", "b", "c"]);
    const repositories = await client.listRepositories(2);
    expect(repositories).to.include.members(["library/hello", "library/tools", "team/app", "library/single", "copies/one", "copies/two", "copies/hello"]);
  });

  it("refuses a blob whose stored bytes do not match its digest", async () => {
    const corrupt = await startRegistry();
    const image = buildFixtureImage({ repository: "library/corrupt", tag: "1", format: "oci", platforms: ["linux/amd64"], single: true, payloadBytes: 4096 });
    await pushFixtures(corrupt.url, [image]);
    const layer = image.platforms[0].layers[1];
    const hex = layer.digest.slice("sha256:".length);
    const dataFile = path.join(corrupt.rootDirectory, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const altered = Buffer.from(fs.readFileSync(dataFile));
    altered[altered.length - 100] ^= 0xff;
    fs.writeFileSync(dataFile, altered);

    const reader = new RegistryClient({ registry: corrupt.host });
    const error = await rejection(readAll(await reader.openBlob(image.repository, layer.digest, layer.size)));
    expect(error).to.be.instanceOf(DigestMismatchError);
    expect(error.message).to.equal(
      `blob ${layer.digest} from ${corrupt.host}/library/corrupt does not match its digest (the bytes hash to ${sha256Digest(altered)}); ` +
        "the copy was refused. The source's storage is corrupt or something altered the data in transit: re-push the image to the source, or mirror from another source.",
    );
    // Nor does a streamed upload of those bytes reach the target.
    const upload = await rejection(reader.uploadBlob("copies/corrupt", layer.digest, layer.size, () => reader.openBlob(image.repository, layer.digest, layer.size)));
    expect(upload).to.be.instanceOf(DigestMismatchError);
    expect(await reader.headBlob("copies/corrupt", layer.digest)).to.equal(undefined);
  });

  it("explains a missing image with the registry, the repository and what to check", async () => {
    const error = await rejection(client.getManifest("library/nothing", "1.0"));
    expect(error).to.be.instanceOf(RegistryError);
    expect(error.message).to.equal(`manifest 1.0 does not exist in ${registry.host}/library/nothing (404 MANIFEST_UNKNOWN (manifest unknown)); check the image name and tag`);
  });

  it("explains a registry that cannot be reached", async () => {
    const port = await freePort();
    const error = await rejection(new RegistryClient({ registry: `127.0.0.1:${port}`, retries: 1, retryBaseDelayMs: 10 }).ping());
    expect(error.message).to.equal(`cannot reach 127.0.0.1:${port} (/v2/, http://127.0.0.1:${port}): ECONNREFUSED; check that 127.0.0.1:${port} is running and reachable, then run the command again`);
  });

  describe("behind a real nginx", () => {
    it("turns a 429 with Retry-After into the clear rate-limit message", async () => {
      requireProgram("nginx", "nginx-light");
      const front = await startNginxInFront(
        (upstream) => `
    location = /v2/ { proxy_pass ${upstream}; }
    location /v2/ {
      add_header Retry-After 37 always;
      default_type application/json;
      return 429 '{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}';
    }`,
        registry,
      );
      const error = await rejection(new RegistryClient({ registry: front.host }).getManifest("library/hello", "1.0"));
      expect(error).to.be.instanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterSeconds).to.equal(37);
      expect(error.message).to.equal(
        `rate limited by ${front.host} while reading library/hello, retry after 37 s (the registry limits request rates; wait, or run docker login ${front.host} if it gives logged-in users more)`,
      );
    });

    it("retries 5xx answers with backoff, a bounded number of times, then names the registry", async () => {
      const front = await startNginxInFront(
        (upstream) => `
    location = /v2/ { proxy_pass ${upstream}; }
    location /v2/ { return 503; }`,
        registry,
      );
      const started = Date.now();
      const error = await rejection(new RegistryClient({ registry: front.host, retries: 3, retryBaseDelayMs: 20 }).getManifest("library/hello", "1.0"));
      expect(error.message).to.equal(`${front.host}/library/hello answered 503 to manifest 1.0; try again, and check the registry's log if it persists`);
      // 20 + 40 + 80 ms of backoff at least.
      expect(Date.now() - started).to.be.at.least(140);
      // nginx logs a request after answering it, so the last attempt's line may land just after the client has its 503.
      const attempts = () => fs.readFileSync(front.accessLog, "utf8").split("\n").filter((line) => line.includes("/v2/library/hello/manifests/1.0"));
      await waitFor("four manifest attempts in the access log", async () => attempts().length >= 4, 3_000, 20);
      await new Promise((r) => setTimeout(r, 200));
      expect(attempts()).to.have.length(4);
    });

    describe("a blob download whose connection breaks part-way", () => {
      const MiB = 1024 * 1024;
      let large: FixtureImage;
      before(async () => {
        large = buildFixtureImage({ repository: "library/large", tag: "1", format: "oci", platforms: ["linux/amd64"], single: true, payloadBytes: 8 * MiB });
        await pushFixtures(registry.url, [large]);
      });

      // The fronts send 4 MB/s, so the 8 MiB layer is still on its way when the workers die. They buffer in
      // memory only (proxy_max_temp_file_size 0): their temp folder is not theirs to write.

      /** Reads the large layer through `front`, killing nginx's workers (the connection resets) once 2 MiB are in. */
      async function readThroughBreak(front: Awaited<ReturnType<typeof startNginxInFront>>): Promise<{ bytes: Buffer; digest: string; size: number }> {
        const layer = large.platforms[0].layers[1];
        let received = 0;
        let broken = false;
        const stream = await new RegistryClient({ registry: front.host, retryBaseDelayMs: 20 }).openBlob(large.repository, layer.digest, layer.size, (n) => {
          received += n;
          if (!broken && received > 2 * MiB) {
            broken = true;
            for (const pid of childProcessIds(front.nginx.process.pid!)) process.kill(pid, "SIGKILL");
          }
        });
        const bytes = await readAll(stream);
        expect(broken, "the connection was broken mid-blob").to.equal(true);
        return { bytes, digest: layer.digest, size: layer.size };
      }

      /** The blob requests nginx logged: a killed worker never logs the request it was serving. */
      async function blobRequests(front: { accessLog: string }, digest: string): Promise<Array<{ status: number; bytes: number }>> {
        const lines = () => fs.readFileSync(front.accessLog, "utf8").split("\n").filter((line) => line.includes(`/blobs/${digest}`));
        await waitFor("the resumed request in the access log", async () => lines().length >= 1, 3_000, 20);
        return lines().map((line) => {
          const [, status, bytes] = /" (\d{3}) (\d+) /.exec(line)!;
          return { status: Number(status), bytes: Number(bytes) };
        });
      }

      it("picks it up where it broke with a Range request, and verifies the whole blob", async () => {
        const front = await startNginxInFront((upstream) => `    location /v2/ { proxy_pass ${upstream}; proxy_max_temp_file_size 0; limit_rate 4m; }`, registry);
        const { bytes, digest, size } = await readThroughBreak(front);
        expect(bytes.length).to.equal(size);
        expect(sha256Digest(bytes)).to.equal(digest);
        const requests = await blobRequests(front, digest);
        // One more request, for the rest only: more than 2 MiB were not sent again.
        expect(requests).to.have.length(1);
        expect(requests[0].status).to.equal(206);
        expect(requests[0].bytes).to.be.below(size - 2 * MiB);
        await front.stop();
      });

      it("starts over and skips what it had when the source ignores Range", async () => {
        const front = await startNginxInFront(
          (upstream) => `    location /v2/ { proxy_pass ${upstream}; proxy_max_temp_file_size 0; limit_rate 4m; proxy_set_header Range ""; max_ranges 0; }`,
          registry,
        );
        const { bytes, digest, size } = await readThroughBreak(front);
        expect(sha256Digest(bytes)).to.equal(digest);
        expect(await blobRequests(front, digest)).to.deep.equal([{ status: 200, bytes: size }]);
        await front.stop();
      });
    });

    it("sends basic auth from the saved credentials when the registry asks for it", async () => {
      const folder = makeTempDir("htpasswd");
      // nginx workers may run as another user (nobody, when the tests run as root): let them read it.
      fs.chmodSync(folder, 0o755);
      const htpasswd = path.join(folder, "htpasswd");
      const hash = execFileSync("openssl", ["passwd", "-apr1", "s3cret"], { encoding: "utf8" }).trim();
      fs.writeFileSync(htpasswd, `teacher:${hash}\n`, { mode: 0o644 });
      const front = await startNginxInFront(
        (upstream) => `
    location /v2/ {
      auth_basic "venue";
      auth_basic_user_file ${htpasswd};
      proxy_pass ${upstream};
    }`,
        registry,
      );
      const anonymous = await rejection(new RegistryClient({ registry: front.host, credentials: () => undefined }).getManifest("library/hello", "1.0"));
      expect(anonymous.message).to.equal(
        `${front.host} refused manifest 1.0 in ${front.host}/library/hello (401): the repository may be private or misspelt; if you have access, run docker login ${front.host} and try again`,
      );
      const withLogin = new RegistryClient({ registry: front.host, credentials: { username: "teacher", password: "s3cret", origin: "test" } });
      expect((await withLogin.getManifest("library/hello", "1.0")).digest).to.equal(images[0].digest);
    });
  });

  describe("behind token auth with a test-owned issuer", () => {
    let issuer: TokenIssuer;
    let secured: RunningRegistry;

    before(async () => {
      issuer = await startTokenIssuer({ users: { teacher: "s3cret" } });
      // Same storage as the open registry, so the fixtures are already there.
      secured = await startRegistry({ rootDirectory: registry.rootDirectory, extraConfig: issuer.registryConfig });
    });
    after(() => issuer.stop());

    it("fetches a token per repository scope with the credentials and pushes with pull,push", async () => {
      const login = new RegistryClient({ registry: secured.host, credentials: { username: "teacher", password: "s3cret", origin: "test" } });
      expect((await login.getManifest("library/hello", "1.0")).digest).to.equal(images[0].digest);
      const layer = images[0].platforms[0].layers[0];
      expect(await login.uploadBlob("secured/copy", layer.digest, layer.size, async () => Readable.from([layer.data]), "library/hello")).to.equal("mounted");
      expect(issuer.requests).to.deep.equal([
        { user: "teacher", scopes: ["repository:library/hello:pull"] },
        { user: "teacher", scopes: ["repository:secured/copy:pull,push", "repository:library/hello:pull"] },
      ]);
    });

    it("says to run docker login when an anonymous token is not enough", async () => {
      const anonymous = new RegistryClient({ registry: secured.host, credentials: () => undefined });
      const error = await rejection(anonymous.getManifest("library/hello", "1.0"));
      expect(error.message).to.equal(
        `${secured.host} refused manifest 1.0 in ${secured.host}/library/hello (401 UNAUTHORIZED (authentication required)): the repository may be private or misspelt; if you have access, run docker login ${secured.host} and try again`,
      );
    });

    it("says the saved credentials were refused when the password is wrong", async () => {
      const wrong = new RegistryClient({ registry: secured.host, credentials: { username: "teacher", password: "nope", origin: "config.json auths" } });
      const error = await rejection(wrong.getManifest("library/hello", "1.0"));
      expect(error.message).to.equal(`the token service of ${secured.host} (${issuer.realm}) refused the credentials from config.json auths; run docker login ${secured.host} again`);
    });
  });
});

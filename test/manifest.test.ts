import { expect } from "chai";
import { ManifestError, buildFilteredIndex, parseManifest, selectPlatforms, sha256Digest, ImageIndex } from "../lib/manifest";
import { MediaType, buildFixtureImage } from "./support/fixtures";

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe("manifests", () => {
  const hello = buildFixtureImage({ repository: "library/hello", tag: "1", format: "oci", platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"] });

  it("reads an OCI index, a Docker manifest list and image manifests by their media type", () => {
    const index = parseManifest(hello.topManifest, MediaType.ociIndex, "hello");
    expect(index.kind).to.equal("index");
    const tools = buildFixtureImage({ repository: "library/tools", tag: "1", format: "docker", platforms: ["linux/amd64"] });
    expect(parseManifest(tools.topManifest, undefined, "tools")).to.include({ kind: "index", mediaType: MediaType.dockerList });
    expect(parseManifest(tools.platforms[0].manifest, MediaType.dockerManifest, "tools")).to.include({ kind: "image", mediaType: MediaType.dockerManifest });
    // An OCI document without mediaType is known by its shape.
    const bare = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(bare, "application/json", "bare").mediaType).to.equal(MediaType.ociIndex);
  });

  it("refuses schema 1 and malformed documents, naming the image", () => {
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, "old/app:1")).to.throw(ManifestError, "old/app:1 is a Docker schema 1 manifest");
    expect(() => parseManifest(Buffer.from("<html>"), undefined, "x:1")).to.throw("the manifest of x:1 is not JSON");
    expect(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ digest: "nope" }] })), undefined, "x:1")).to.throw(
      'the index of x:1 has a malformed "manifests" list',
    );
  });

  it("keeps every entry, and so the original bytes, when every platform is wanted", () => {
    const index = parseManifest(hello.topManifest, undefined, "hello") as ImageIndex;
    const all = selectPlatforms(index, []);
    expect(all.complete).to.equal(true);
    expect(all.available).to.deep.equal(["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    const same = selectPlatforms(index, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    expect(same.complete).to.equal(true);
  });

  it("filters to the wanted platforms, keeps their attestations, and reports what is missing", () => {
    const index: ImageIndex = {
      kind: "index",
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: D("a"), size: 1, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: MediaType.ociManifest, digest: D("b"), size: 1, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        {
          mediaType: MediaType.ociManifest,
          digest: D("c"),
          size: 1,
          platform: { os: "unknown", architecture: "unknown" },
          annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": D("b") },
        },
      ],
    } as ImageIndex;
    const arm = selectPlatforms(index, ["linux/arm64", "linux/riscv64"]);
    expect(arm.kept.map((d) => d.digest)).to.deep.equal([D("b"), D("c")]);
    expect(arm.complete).to.equal(false);
    expect(arm.missing).to.deep.equal(["linux/riscv64"]);
    expect(arm.available).to.deep.equal(["linux/amd64", "linux/arm64"]);
  });

  it("builds a filtered index that keeps the original entries and top-level fields", () => {
    const original = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, annotations: { team: "w" }, manifests: JSON.parse(hello.topManifest.toString()).manifests }));
    const index = parseManifest(original, undefined, "hello") as ImageIndex;
    const filtered = buildFilteredIndex(original, selectPlatforms(index, ["linux/arm64"]).kept);
    const document = JSON.parse(filtered.toString());
    expect(document.annotations).to.deep.equal({ team: "w" });
    expect(document.manifests).to.have.length(1);
    expect(document.manifests[0].digest).to.equal(hello.platforms[1].manifestDigest);
    expect(sha256Digest(filtered)).to.not.equal(hello.digest);
  });
});

import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { ImageListError, parseImageList, platformsFor, readImageList, validateImageList } from "../lib/image-list";
import { makeTempDir } from "./support/services";

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ImageListError);
    return (error as ImageListError).problems;
  }
  throw new Error("expected the image list to be refused");
}

describe("image-list", () => {
  it("reads entries with normalised sources, targets and platforms", () => {
    const entries = parseImageList(
      '\uFEFF{ "images": [ { "source": "postgres:15-alpine", "target": "workshop/postgres:15-alpine", "platforms": ["linux/amd64", "Linux/ARM64/v8", "linux/arm64"] }, { "source": "ghcr.io/org/app", "target": "workshop/app" } ] }',
    );
    expect(entries).to.deep.equal([
      {
        source: "postgres:15-alpine",
        sourceReference: { registry: "docker.io", repository: "library/postgres", tag: "15-alpine", digest: undefined },
        target: "workshop/postgres:15-alpine",
        targetRepository: "workshop/postgres",
        targetTag: "15-alpine",
        platforms: ["linux/amd64", "linux/arm64"],
      },
      {
        source: "ghcr.io/org/app",
        sourceReference: { registry: "ghcr.io", repository: "org/app", tag: "latest", digest: undefined },
        target: "workshop/app:latest",
        targetRepository: "workshop/app",
        targetTag: "latest",
        platforms: undefined,
      },
    ]);
    expect(platformsFor(entries[0], ["linux/amd64"])).to.deep.equal(["linux/amd64", "linux/arm64"]);
    expect(platformsFor(entries[1], ["linux/amd64", "linux/arm64/v8"])).to.deep.equal(["linux/amd64", "linux/arm64"]);
  });

  it("reports every problem at once with the entry's index and field", () => {
    const problems = problemsOf(() =>
      validateImageList({
        images: [
          { source: "Postgres", target: "workshop/pg:1" },
          { target: "workshop/x:1" },
          { source: "redis", target: "workshop/pg:1" },
          { source: "redis", target: "workshop/redis:7", platforms: ["linux/amd46"] },
          { source: "redis", target: "ghcr.io/workshop/redis:7", extra: 1 },
        ],
      }),
    );
    expect(problems).to.deep.equal([
      `images[0].source: "Postgres" is not a valid image reference: name part "Postgres" is not allowed (repository names must be lowercase)`,
      `images[1].source is required (the image to mirror, e.g. "postgres:15-alpine")`,
      `images[2].target: "workshop/pg:1" is already the target of images[0]; each venue name must be unique`,
      `images[3].platforms[0]: unknown platform "linux/amd46"; use one of linux/amd64, linux/arm64, linux/arm64/v8, linux/arm/v7, linux/arm/v6, linux/386, linux/ppc64le, linux/s390x, linux/riscv64, windows/amd64`,
      `images[4]: unknown field "extra"`,
      `images[4].target: "ghcr.io/workshop/redis:7" is not a valid image reference: a venue name has no registry host; write e.g. workshop/postgres:15-alpine`,
    ]);
  });

  it("refuses a target with a registry host", () => {
    expect(problemsOf(() => validateImageList({ images: [{ source: "redis", target: "ghcr.io/workshop/redis:7" }] }))).to.deep.equal([
      `images[0].target: "ghcr.io/workshop/redis:7" is not a valid image reference: a venue name has no registry host; write e.g. workshop/postgres:15-alpine`,
    ]);
  });

  it("explains a wrong top-level shape, an empty list and bad JSON", () => {
    expect(problemsOf(() => validateImageList([]))[0]).to.equal('the file must be an object: { "images": [ ... ] }');
    expect(problemsOf(() => validateImageList({ images: [] }))).to.deep.equal(["images is empty: list at least one image"]);
    const [syntax] = problemsOf(() => parseImageList('{\n  "images": [,]\n}', "my-images.json"));
    expect(syntax).to.equal("my-images.json is not valid JSON: a value was expected (a trailing comma, or an unfinished entry?) at line 2, column 14");
  });

  it("says how to fix a missing file and names it in the message", () => {
    const file = path.join(makeTempDir("images"), "images.json");
    expect(() => readImageList(file)).to.throw(ImageListError, `${file} has a problem:\n  - the file does not exist; create it or pass --images with its path`);
    fs.writeFileSync(file, JSON.stringify({ images: [{ source: "busybox", target: "workshop/busybox:1" }] }));
    expect(readImageList(file).map((e) => e.target)).to.deep.equal(["workshop/busybox:1"]);
  });
});

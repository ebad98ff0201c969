import { expect } from "chai";
import {
  InvalidReferenceError,
  familiarImageName,
  formatImageReference,
  manifestReference,
  parseImageReference,
  parseRepositoryAndTag,
  registryApiHost,
  withRegistry,
} from "../lib/image-reference";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("image-reference", () => {
  it("normalises short Docker Hub names as Docker does", () => {
    expect(parseImageReference("postgres")).to.deep.equal({ registry: "docker.io", repository: "library/postgres", tag: "latest", digest: undefined });
    expect(parseImageReference("bitnami/redis:7.2")).to.deep.equal({ registry: "docker.io", repository: "bitnami/redis", tag: "7.2", digest: undefined });
    expect(parseImageReference("docker.io/postgres:15-alpine")).to.deep.equal({ registry: "docker.io", repository: "library/postgres", tag: "15-alpine", digest: undefined });
    expect(parseImageReference("index.docker.io/library/node:20").registry).to.equal("docker.io");
    expect(parseImageReference("registry-1.docker.io/library/node:20").registry).to.equal("docker.io");
  });

  it("takes the first part as a registry only with a dot, a port or localhost", () => {
    expect(parseImageReference("ghcr.io/org/app:1")).to.deep.equal({ registry: "ghcr.io", repository: "org/app", tag: "1", digest: undefined });
    expect(parseImageReference("127.0.0.1:5001/workshop/app")).to.deep.equal({ registry: "127.0.0.1:5001", repository: "workshop/app", tag: "latest", digest: undefined });
    expect(parseImageReference("localhost/app:dev")).to.deep.equal({ registry: "localhost", repository: "app", tag: "dev", digest: undefined });
    expect(parseImageReference("localhost:5000/app").registry).to.equal("localhost:5000");
    expect(parseImageReference("myorg/app").registry).to.equal("docker.io");
    expect(parseImageReference("[::1]:5000/app:1").registry).to.equal("[::1]:5000");
  });

  it("keeps digests, with or without a tag", () => {
    expect(parseImageReference(`postgres@${DIGEST}`)).to.deep.equal({ registry: "docker.io", repository: "library/postgres", tag: undefined, digest: DIGEST });
    expect(parseImageReference(`postgres:15@${DIGEST}`)).to.deep.equal({ registry: "docker.io", repository: "library/postgres", tag: "15", digest: DIGEST });
    expect(manifestReference(parseImageReference(`postgres:15@${DIGEST}`))).to.equal(DIGEST);
    expect(manifestReference(parseImageReference("postgres:15"))).to.equal("15");
  });

  it("names the bad reference and the reason", () => {
    const cases: Array<[string, string]> = [
      ["", `"" is not a valid image reference: it is empty`],
      ["Postgres", `"Postgres" is not a valid image reference: name part "Postgres" is not allowed (repository names must be lowercase)`],
      ["http://ghcr.io/app", `"http://ghcr.io/app" is not a valid image reference: leave out the scheme (http:// or https://); write host:port/name:tag`],
      ["app@sha256:123", `"app@sha256:123" is not a valid image reference: digest "sha256:123" must be sha256: followed by 64 lowercase hex digits`],
      ["app:-bad", `"app:-bad" is not a valid image reference: tag "-bad" may use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")`],
      ["localhost:99999/app", `"localhost:99999/app" is not a valid image reference: registry port "99999" must be a number from 1 to 65535`],
      ["ghcr.io//app", `"ghcr.io//app" is not a valid image reference: the image name is missing or has an empty path part`],
      ["my app", `"my app" is not a valid image reference: it contains white space`],
    ];
    for (const [input, message] of cases) {
      expect(() => parseImageReference(input), input).to.throw(InvalidReferenceError, message);
    }
  });

  it("formats canonical and familiar names", () => {
    const reference = parseImageReference(`postgres:15@${DIGEST}`);
    expect(formatImageReference(reference)).to.equal(`docker.io/library/postgres:15@${DIGEST}`);
    expect(familiarImageName(reference)).to.equal(`postgres:15@${DIGEST}`);
    expect(familiarImageName(parseImageReference("ghcr.io/org/app:1"))).to.equal("ghcr.io/org/app:1");
    expect(formatImageReference(withRegistry(parseImageReference("postgres:15"), "127.0.0.1:5000", "workshop/postgres"))).to.equal("127.0.0.1:5000/workshop/postgres:15");
  });

  it("sends Docker Hub API calls to registry-1.docker.io", () => {
    expect(registryApiHost("docker.io")).to.equal("registry-1.docker.io");
    expect(registryApiHost("ghcr.io")).to.equal("ghcr.io");
  });

  it("parses venue names without a registry", () => {
    expect(parseRepositoryAndTag("workshop/postgres:15-alpine")).to.deep.equal({ repository: "workshop/postgres", tag: "15-alpine" });
    expect(parseRepositoryAndTag("workshop/app")).to.deep.equal({ repository: "workshop/app", tag: "latest" });
    expect(() => parseRepositoryAndTag(`workshop/app@${DIGEST}`)).to.throw(InvalidReferenceError, "a venue name takes a tag, not a digest");
  });
});

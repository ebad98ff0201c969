import { expect } from "chai";
import { formatPlatform, isKnownPlatform, parsePlatform, platformMatches } from "../lib/platform";

describe("platforms", () => {
  it("treats linux/arm64/v8 as linux/arm64 and ignores case", () => {
    expect(parsePlatform("linux/arm64/v8")).to.deep.equal({ os: "linux", architecture: "arm64" });
    expect(parsePlatform(" Linux/AMD64 ")).to.deep.equal({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/arm/v7")).to.deep.equal({ os: "linux", architecture: "arm", variant: "v7" });
    expect(platformMatches({ os: "linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "arm64" })).to.equal(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, { os: "linux", architecture: "arm", variant: "v7" })).to.equal(false);
    expect(platformMatches(undefined, { os: "linux", architecture: "amd64" })).to.equal(false);
  });

  it("refuses a typo with the list of platforms to choose from", () => {
    expect(isKnownPlatform("linux/amd46")).to.equal(false);
    expect(() => parsePlatform("linux/amd46")).to.throw('unknown platform "linux/amd46"; use one of linux/amd64, linux/arm64');
  });

  it("formats back to the text images.json uses", () => {
    expect(formatPlatform({ os: "linux", architecture: "arm", variant: "v7" })).to.equal("linux/arm/v7");
    expect(formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" })).to.equal("linux/arm64");
  });
});

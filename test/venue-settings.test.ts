import { expect } from "chai";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { VenueSettingsError, readVenueSettings } from "../lib/venue-settings";

const project = path.resolve(__dirname, "..");

describe("venue stack config", () => {
  const config = (values: Record<string, string>) => ({ get: (key: string) => values[key] });
  const problemsOf = (values: Record<string, string>): string => {
    try {
      readVenueSettings(config(values));
    } catch (error) {
      expect(error).to.be.instanceOf(VenueSettingsError);
      return (error as Error).message;
    }
    throw new Error("expected the config to be refused");
  };

  it("uses the defaults that Pulumi.yaml declares", () => {
    const declaredConfig = (yaml.load(fs.readFileSync(path.join(project, "Pulumi.yaml"), "utf8")) as any).config;
    const settings = readVenueSettings(config({}));
    for (const [key, spec] of Object.entries<any>(declaredConfig)) {
      const value = (settings as any)[key];
      const expected = spec.default === "" ? undefined : spec.default;
      expect(value, key).to.deep.equal(expected);
      expect(spec.description, key).to.be.a("string").with.length.greaterThan(20);
    }
    expect(Object.keys(settings).sort()).to.deep.equal(Object.keys(declaredConfig).sort());
  });

  it("refuses an unknown platform, naming the key", () => {
    expect(problemsOf({ platforms: '["linux/amd64","linux/amd46"]' })).to.contain('venue-registry:platforms[1] is an unknown platform "linux/amd46"');
  });

  it("refuses a port out of range, naming the key and how to set it", () => {
    const message = problemsOf({ port: "70000" });
    expect(message).to.contain('venue-registry:port must be a whole number from 1 to 65535, not "70000"');
    expect(message).to.contain("pulumi config set port");
    expect(problemsOf({ port: "5001" })).to.contain("venue-registry:port and venue-registry:mirrorPort are both 5001");
  });

  it("refuses a malformed seedFrom and reports every problem at once", () => {
    const message = problemsOf({ seedFrom: "http://10.0.0.2:5000", replicas: "0" });
    expect(message).to.contain("2 problems");
    expect(message).to.contain("venue-registry:seedFrom must be host:port");
    expect(message).to.contain("venue-registry:replicas must be a whole number from 1 to 8");
  });

  it("fails the program when images.json has duplicate targets or no images, naming the field", () => {
    const { parseImageList } = require("../lib/image-list") as typeof import("../lib/image-list");
    expect(() =>
      parseImageList(JSON.stringify({ images: [{ source: "redis:7", target: "w/redis:7" }, { source: "redis:7.2", target: "w/redis:7" }] })),
    ).to.throw(/images\[1\]\.target: "w\/redis:7" is already the target of images\[0\]/);
    expect(() => parseImageList(JSON.stringify({ images: [] }))).to.throw(/images is empty: list at least one image/);
  });
});

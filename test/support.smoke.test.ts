import { expect } from "chai";
import { buildFixtureSet, pushFixtures } from "./support/fixtures";
import { sharedDockerdInstance, startRegistry } from "./support/services";

describe("test support @system", () => {
  it("pushes fixtures into a real registry and the real dockerd runs one", async () => {
    const registry = await startRegistry();
    const images = buildFixtureSet();
    await pushFixtures(registry.url, images);
    const dockerd = await sharedDockerdInstance();
    const hello = images[0];
    dockerd.docker(["pull", `${registry.host}/${hello.repository}:${hello.tag}`]);
    const out = dockerd.docker(["run", "--rm", "--network", "none", `${registry.host}/${hello.repository}:${hello.tag}`]);
    expect(out.trim()).to.equal("library/hello:1.0 linux/amd64");
  });
});

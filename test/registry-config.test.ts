import { expect } from "chai";
import { renderRegistryConfig } from "../lib/registry-config";
import { buildFixtureSet, pushFixtures } from "./support/fixtures";
import { startRegistry } from "./support/services";

describe("registry config @system", () => {
  it("renders the config the stack uploads, with read-only mode only on replicas", () => {
    const writer = renderRegistryConfig({ listenAddress: "0.0.0.0:5000", rootDirectory: "/var/lib/registry", readOnly: false });
    const replica = renderRegistryConfig({ listenAddress: "0.0.0.0:5000", rootDirectory: "/var/lib/registry", readOnly: true });
    expect(writer).to.match(/readonly:\n\s+enabled: false/);
    expect(replica).to.match(/readonly:\n\s+enabled: true/);
    expect(replica).to.match(/uploadpurging:\n\s+enabled: false/);
  });

  it("lets the real writer take pushes, and a real replica on the same storage serve them and refuse writes", async () => {
    const writer = await startRegistry();
    const images = buildFixtureSet();
    await pushFixtures(writer.url, images);
    const replica = await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true });
    const [hello] = images;
    const manifest = await fetch(`${replica.url}/v2/${hello.repository}/manifests/${hello.tag}`, { headers: { Accept: hello.mediaType } });
    expect(manifest.status).to.equal(200);
    expect(manifest.headers.get("docker-content-digest")).to.equal(hello.digest);
    expect(Buffer.from(await manifest.arrayBuffer()).equals(hello.topManifest)).to.equal(true);
    const upload = await fetch(`${replica.url}/v2/${hello.repository}/blobs/uploads/`, { method: "POST" });
    expect(upload.status).to.equal(405);
    // distribution 2.8 answers read-only writes with a plain-text 405.
    expect(await upload.text()).to.equal("Method not allowed\n");
  });
});

import { expect } from "chai";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
  DockerEngine,
  EndpointLookup,
  EngineAddressError,
  EngineUnreachableError,
  ipv4InCidr,
  isInsecureRegistry,
  PullFailedError,
  PullProgressMessage,
  resolveEngineEndpoint,
} from "../lib/docker-engine";
import { buildFixtureSet, pushFixtures } from "./support/fixtures";
import { makeTempDir, sharedDockerdInstance, startRegistry } from "./support/services";

function lookup(overrides: Partial<EndpointLookup> & { files?: Record<string, string> } = {}): EndpointLookup {
  const files = overrides.files ?? {};
  return {
    platform: overrides.platform ?? "linux",
    env: overrides.env ?? {},
    homeDir: overrides.homeDir ?? "/home/ada",
    readText: (file) => files[file],
    exists: overrides.exists ?? ((file) => file in files),
  };
}

const contextDir = (name: string) => crypto.createHash("sha256").update(name).digest("hex");

describe("docker-engine", () => {
  describe("finding the engine like the docker CLI", () => {
    it("DOCKER_HOST wins over everything", () => {
      const endpoint = resolveEngineEndpoint(lookup({ env: { DOCKER_HOST: "unix:///run/user/1000/docker.sock", DOCKER_CONTEXT: "x" } }));
      expect(endpoint).to.deep.equal({ host: "unix:///run/user/1000/docker.sock", origin: "DOCKER_HOST", transport: { kind: "unix", socketPath: "/run/user/1000/docker.sock" } });
    });

    it("uses the current context from config.json and its meta.json (folder named by SHA-256)", () => {
      const files = {
        "/home/ada/.docker/config.json": JSON.stringify({ currentContext: "colima" }),
        [`/home/ada/.docker/contexts/meta/${contextDir("colima")}/meta.json`]: JSON.stringify({ Name: "colima", Endpoints: { docker: { Host: "unix:///home/ada/.colima/default/docker.sock" } } }),
      };
      const endpoint = resolveEngineEndpoint(lookup({ files }));
      expect(endpoint.origin).to.equal('docker context "colima"');
      expect(endpoint.transport).to.deep.equal({ kind: "unix", socketPath: "/home/ada/.colima/default/docker.sock" });
    });

    it("DOCKER_CONTEXT and DOCKER_CONFIG override config.json's choice and folder", () => {
      const files = {
        [`/cfg/contexts/meta/${contextDir("lab")}/meta.json`]: JSON.stringify({ Endpoints: { docker: { Host: "tcp://127.0.0.1:2375" } } }),
      };
      const endpoint = resolveEngineEndpoint(lookup({ env: { DOCKER_CONTEXT: "lab", DOCKER_CONFIG: "/cfg" }, files }));
      expect(endpoint).to.deep.equal({ host: "tcp://127.0.0.1:2375", origin: 'docker context "lab"', transport: { kind: "tcp", baseUrl: "http://127.0.0.1:2375" } });
    });

    it("a missing context folder says how to get back to the default", () => {
      const files = { "/home/ada/.docker/config.json": JSON.stringify({ currentContext: "gone" }) };
      expect(() => resolveEngineEndpoint(lookup({ files }))).to.throw(
        EngineAddressError,
        `The current docker context is "gone", but /home/ada/.docker/contexts/meta/${contextDir("gone")}/meta.json does not exist. Run: docker context use default`,
      );
    });

    it("defaults: the named pipe on Windows, the socket elsewhere, Docker Desktop's user socket on a Mac without the link", () => {
      expect(resolveEngineEndpoint(lookup({ platform: "win32" })).transport).to.deep.equal({ kind: "npipe", pipePath: "\\\\.\\pipe\\docker_engine" });
      expect(resolveEngineEndpoint(lookup({ platform: "linux" })).host).to.equal("unix:///var/run/docker.sock");
      expect(resolveEngineEndpoint(lookup({ platform: "darwin", files: { "/home/ada/.docker/run/docker.sock": "" } })).host).to.equal("unix:///home/ada/.docker/run/docker.sock");
      expect(resolveEngineEndpoint(lookup({ platform: "darwin", files: { "/var/run/docker.sock": "", "/home/ada/.docker/run/docker.sock": "" } })).host).to.equal("unix:///var/run/docker.sock");
    });

    it("tcp with DOCKER_TLS_VERIFY uses https and the certificates; ssh is refused with what to do", () => {
      const files = { "/certs/ca.pem": "CA", "/certs/cert.pem": "CERT", "/certs/key.pem": "KEY" };
      const endpoint = resolveEngineEndpoint(lookup({ env: { DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" }, files }));
      expect(endpoint.transport).to.deep.equal({ kind: "tcp", baseUrl: "https://10.0.0.5:2376", tls: { ca: Buffer.from("CA"), cert: Buffer.from("CERT"), key: Buffer.from("KEY"), verify: true } });
      expect(() => resolveEngineEndpoint(lookup({ env: { DOCKER_HOST: "ssh://me@box" } }))).to.throw(
        "DOCKER_HOST points at ssh://me@box; this tool cannot reach an engine over ssh. Run it on the machine that runs Docker.",
      );
    });
  });

  it("decides whether a registry is insecure from IndexConfigs and the CIDR list", () => {
    const info = {
      RegistryConfig: {
        InsecureRegistryCIDRs: ["127.0.0.0/8", "10.1.0.0/16"],
        IndexConfigs: { "venue.test:5000": { Name: "venue.test:5000", Secure: false }, "docker.io": { Name: "docker.io", Secure: true } },
      },
    };
    expect(isInsecureRegistry(info, "venue.test:5000")).to.equal(true);
    expect(isInsecureRegistry(info, "127.0.0.1:5000")).to.equal(true);
    expect(isInsecureRegistry(info, "10.1.200.3:5000")).to.equal(true);
    expect(isInsecureRegistry(info, "10.2.0.1:5000")).to.equal(false);
    expect(isInsecureRegistry(info, "docker.io")).to.equal(false);
    expect(isInsecureRegistry({}, "127.0.0.1:5000")).to.equal(false);
    expect(ipv4InCidr("192.168.1.20", "192.168.1.0/24")).to.equal(true);
    expect(ipv4InCidr("192.168.2.20", "192.168.1.0/24")).to.equal(false);
  });

  it("reports an engine that is not there as unreachable, with the address and where it came from", async () => {
    const engine = new DockerEngine({ endpoint: resolveEngineEndpoint(lookup({ env: { DOCKER_HOST: "unix:///tmp/nothing-here.sock" } })) });
    expect(await engine.ping(1_000)).to.equal(false);
    try {
      await engine.info();
      expect.fail("info should have thrown");
    } catch (error) {
      expect(error).to.be.instanceOf(EngineUnreachableError);
      expect((error as Error).message).to.equal("Docker is not answering at unix:///tmp/nothing-here.sock (from DOCKER_HOST): nothing is listening there (is Docker running?)");
    }
  });
});

describe("docker-engine with a real dockerd @system", function () {
  this.timeout(120_000);

  it("follows a context made by the real docker CLI, then pulls with per-layer progress, tags, inspects and lists", async () => {
    const dockerd = await sharedDockerdInstance();
    const registry = await startRegistry();
    const [hello] = buildFixtureSet();
    await pushFixtures(registry.url, [hello]);
    const dockerConfig = makeTempDir("docker-config");
    const env = { ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_HOST: "" };
    execFileSync("docker", ["context", "create", "venue-test", "--docker", `host=${dockerd.dockerHost}`], { env, stdio: "pipe" });
    execFileSync("docker", ["context", "use", "venue-test"], { env, stdio: "pipe" });

    const endpoint = resolveEngineEndpoint(lookup({ env: { DOCKER_CONFIG: dockerConfig }, files: readTree(dockerConfig) }));
    expect(endpoint.origin).to.equal('docker context "venue-test"');
    expect(endpoint.host).to.equal(dockerd.dockerHost);
    const engine = new DockerEngine({ endpoint });
    expect(await engine.ping()).to.equal(true);
    const info = await engine.info();
    expect(info.ServerVersion).to.match(/^20\.10\./);
    expect(isInsecureRegistry(info, registry.host)).to.equal(true);

    const reference = `${registry.host}/${hello.repository}@${hello.digest}`;
    const messages: PullProgressMessage[] = [];
    await engine.pull(reference, (m) => messages.push(m));
    const amd64 = hello.platforms.find((p) => p.platform === "linux/amd64")!;
    const appLayerId = amd64.layers[1].digest.slice(7, 19);
    expect(messages.some((m) => m.id === appLayerId && m.status === "Pull complete")).to.equal(true);
    expect(messages[messages.length - 1].status).to.equal(`Status: Downloaded newer image for ${reference}`);

    await engine.tagImage(reference, "workshop/hello", "1.0");
    const inspect = await engine.inspectImage("workshop/hello:1.0");
    expect(inspect!.Id).to.equal(amd64.config.digest);
    expect(inspect!.RepoDigests).to.deep.equal([`${registry.host}/${hello.repository}@${hello.digest}`]);
    expect(inspect!.RepoTags).to.include("workshop/hello:1.0");
    expect((await engine.listImages()).some((image) => (image.RepoTags ?? []).includes("workshop/hello:1.0"))).to.equal(true);
    expect(await engine.inspectImage("workshop/absent:1")).to.equal(undefined);

    try {
      await engine.pull(`${registry.host}/library/absent@sha256:${"0".repeat(64)}`);
      expect.fail("pull should have failed");
    } catch (error) {
      expect(error).to.be.instanceOf(PullFailedError);
      expect((error as PullFailedError).engineMessage).to.match(/manifest unknown|not found/);
    }
    await engine.removeImage("workshop/hello:1.0");
    await engine.removeImage(reference);
  });
});

function readTree(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[full] = fs.readFileSync(full, "utf8");
    }
  };
  walk(root);
  return files;
}

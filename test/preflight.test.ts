import { expect } from "chai";
import * as net from "net";
import { PreflightProbes, dockerCliProbes, formatPreflight, isPortFree, preflightPassed, runPreflight, statfsFreeBytes } from "../lib/preflight";
import { freePort, sharedDockerdInstance } from "./support/services";

/** Real probes for everything but what a test pins down. */
function probes(overrides: Partial<PreflightProbes> = {}): PreflightProbes {
  return {
    dockerServerVersion: async () => "20.10.24",
    containersPublishing: async () => [],
    freeBytes: statfsFreeBytes,
    dockerHubCredentials: async () => "~/.docker/config.json",
    ...overrides,
  };
}

function listen(port: number, host = "0.0.0.0"): Promise<net.Server> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(port, host, () => resolve(server));
  });
}

describe("preflight", () => {
  it("passes on a machine with Docker, free ports, disk and credentials", async () => {
    const results = await runPreflight({ port: await freePort(), mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp" }, probes());
    expect(results.map((r) => r.status)).to.deep.equal(["ok", "ok", "ok", "ok", "ok"]);
    expect(preflightPassed(results)).to.equal(true);
  });

  it("finds a port that a real listener holds, and says how to pick another", async () => {
    const port = await freePort();
    const server = await listen(port);
    try {
      expect(await isPortFree(port, "0.0.0.0")).to.equal(false);
      const linux = await runPreflight({ port, mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp", platform: "linux" }, probes());
      const failed = linux.find((r) => r.check === `port ${port}`)!;
      expect(failed.status).to.equal("fail");
      expect(failed.message).to.contain(`Port ${port} (front door) is already in use`);
      expect(failed.message).to.contain(`pulumi config set port ${port + 50} --stack venue`);
      expect(failed.message).to.not.contain("AirPlay");
    } finally {
      server.close();
    }
  });

  it("names AirPlay Receiver when port 5000 is taken on macOS", async () => {
    let server: net.Server | undefined;
    if (await isPortFree(5000, "0.0.0.0")) server = await listen(5000);
    try {
      const results = await runPreflight({ port: 5000, mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp", platform: "darwin" }, probes());
      const message = results.find((r) => r.check === "port 5000")!.message;
      expect(message).to.contain("AirPlay Receiver");
      expect(message).to.contain("System Settings > General > AirDrop & Handoff");
      expect(message).to.contain("pulumi config set port 5050 --stack venue");
    } finally {
      server?.close();
    }
  });

  it("accepts a port held by the venue's own front door (a re-run of pulumi up)", async () => {
    const port = await freePort();
    const server = await listen(port);
    try {
      const results = await runPreflight(
        { port, mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp" },
        probes({ containersPublishing: async (p) => (p === port ? ["venue-frontdoor"] : []) }),
      );
      expect(results.find((r) => r.check === `port ${port}`)!.message).to.contain("re-run");
      expect(preflightPassed(results)).to.equal(true);
    } finally {
      server.close();
    }
  });

  it("refuses low disk, showing both numbers", async () => {
    const free = await statfsFreeBytes("/tmp");
    const needGb = Math.ceil(free / 1e9) + 100;
    const results = await runPreflight({ port: await freePort(), mirrorPort: await freePort(), minFreeDiskGb: needGb, dataDir: "/tmp/does/not/exist/yet" }, probes());
    const disk = results.find((r) => r.check === "disk")!;
    expect(disk.status).to.equal("fail");
    expect(disk.message).to.contain(`Only ${(free / 1e9).toFixed(1)} GB free`);
    expect(disk.message).to.contain(`at least ${needGb} GB`);
    expect(formatPreflight(results)).to.match(/Preflight failed: 1 check above needs fixing/);
  });

  it("warns, without failing, when no Docker Hub credentials are found", async () => {
    const results = await runPreflight({ port: await freePort(), mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp" }, probes({ dockerHubCredentials: async () => undefined }));
    const login = results.find((r) => r.check === "docker hub login")!;
    expect(login.status).to.equal("warn");
    expect(login.message).to.contain("Run `docker login` first");
    expect(preflightPassed(results)).to.equal(true);
  });

  describe("against a real dockerd @system", () => {
    it("reports the engine's version, and a clear failure when Docker is not running", async () => {
      const dockerd = await sharedDockerdInstance();
      const saved = process.env.DOCKER_HOST;
      try {
        process.env.DOCKER_HOST = dockerd.dockerHost;
        const real = { ...probes(), ...dockerCliProbes() };
        const up = await runPreflight({ port: await freePort(), mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp" }, real);
        expect(up[0]).to.deep.include({ check: "docker", status: "ok", message: "Docker Engine 20.10.24+dfsg1 is running." });
        process.env.DOCKER_HOST = "unix:///tmp/no-such-docker.sock";
        const down = await runPreflight({ port: await freePort(), mirrorPort: await freePort(), minFreeDiskGb: 0, dataDir: "/tmp", platform: "linux" }, real);
        expect(down[0].status).to.equal("fail");
        expect(down[0].message).to.contain("Docker is not reachable");
        expect(down[0].message).to.contain("sudo systemctl start docker");
      } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
      }
    });
  });
});

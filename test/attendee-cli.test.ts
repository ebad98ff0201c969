import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { buildMirrorList, writeMirrorList } from "../lib/mirror-list";
import { orderMirrorsForMachine } from "../lib/mirror-selection";
import { packAttendee } from "../scripts/pack-attendee";
import { rateLimitFailure } from "../lib/puller";
import { VenueLock } from "../lib/venue-lock";
import { startTestVenue, TestVenue, writeLockForVenue } from "./support/attendee-venue";
import { startRateLimitedRegistry } from "./support/front-door";
import { buildFixtureSet } from "./support/fixtures";
import { freePort, makeTempDir, RunningDockerd, startDockerd, startNginx } from "./support/services";

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe("attendee CLI @system", function () {
  this.timeout(180_000);
  let packageDir: string;
  let cliJs: string;
  let tgz: string;
  let venue: TestVenue;
  let dockerd: RunningDockerd;
  let home: string;

  /** Runs the packaged CLI (what attendees get) with pipes, so stdout and stderr are not terminals. */
  function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
    const result = spawnSync(process.execPath, [cliJs, ...args], {
      encoding: "utf8",
      timeout: 120_000,
      env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: dockerd.dockerHost, ...env },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  const engineFlags = () => ["--daemon-config", dockerd.configFile, "--dockerd-pid", String(dockerd.process.pid), "--retry-delay-ms", "50", "--restart-wait", "20"];

  before(async () => {
    packageDir = makeTempDir("attendee-pack");
    tgz = await packAttendee({ out: path.join(packageDir, "www", "attendee", "workshop-attendee.tgz") });
    const unpack = spawnSync("tar", ["xzf", tgz, "-C", packageDir]);
    expect(unpack.status).to.equal(0);
    cliJs = path.join(packageDir, "package", "cli.js");
    venue = await startTestVenue({ images: buildFixtureSet() });
    dockerd = await startDockerd({ daemonJson: `{\n  "debug": false\n}\n` });
    home = makeTempDir("attendee-home");
  });

  it("installs and runs from the front door with npx and no registry reachable", async () => {
    for (const dir of [packageDir, path.join(packageDir, "www"), path.dirname(tgz)]) fs.chmodSync(dir, 0o755);
    const port = await freePort();
    const config = `pid nginx.pid;\nevents {}\nhttp { access_log off; server { listen 127.0.0.1:${port}; location /attendee/ { alias ${path.dirname(tgz)}/; } } }\n`;
    await startNginx(config, `http://127.0.0.1:${port}/attendee/workshop-attendee.tgz`);
    const closedPort = await freePort();
    const result = spawnSync("npx", ["-y", `http://127.0.0.1:${port}/attendee/workshop-attendee.tgz`, "--version"], {
      encoding: "utf8",
      timeout: 120_000,
      cwd: makeTempDir("npx-cwd"),
      env: { PATH: process.env.PATH, HOME: makeTempDir("npx-home"), npm_config_registry: `http://127.0.0.1:${closedPort}/`, npm_config_cache: makeTempDir("npm-cache") },
    });
    expect(result.stderr).to.not.match(/ERR!/);
    expect(result.status).to.equal(0);
    expect(result.stdout.trim()).to.equal("1.0.0");
  });

  it("answers --help and refuses bad input with exit code 2", () => {
    const help = cli(["--help"]);
    expect(help.status).to.equal(0);
    for (const command of ["configure", "pull", "verify", "status", "undo"]) expect(help.stdout).to.include(`workshop-attendee ${command}`);
    expect(help.stdout).to.include("--no-fallback").and.include("--stall-timeout");
    const stall = cli(["pull", "-r", venue.frontDoor, "--stall-timeout", "0"]);
    expect([stall.status, stall.stderr]).to.deep.equal([2, "✖ --stall-timeout must be a number of seconds from 1 to 600 (got 0).\n"]);
    const unknown = cli(["pul", "-r", venue.frontDoor]);
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.equal("✖ Unknown argument: pul\n  Run: workshop-attendee --help\n");
    const noVenue = cli(["pull"]);
    expect(noVenue.status).to.equal(2);
    expect(noVenue.stderr).to.equal("✖ Which venue? Give its address, for example: --registry 192.168.1.20:5000\n  The address is on the projector.\n");
    const url = cli(["pull", "--registry", `http://${venue.frontDoor}`, "--json"]);
    expect(url.status).to.equal(2);
    expect(JSON.parse(url.stdout)).to.deep.equal({
      command: "pull",
      ok: false,
      exitCode: 2,
      error: { message: `"http://${venue.frontDoor}" has a scheme. Write the registry as host:port, e.g. ${venue.frontDoor}`, fix: [] },
    });
  });

  it("says Docker is not running (exit 3) and the venue is unreachable (exit 4)", async () => {
    const noDocker = cli(["pull", "-r", venue.frontDoor], { DOCKER_HOST: "unix:///tmp/no-such-docker.sock" });
    expect(noDocker.status).to.equal(3);
    expect(noDocker.stderr).to.equal(
      "✖ Docker is not answering at unix:///tmp/no-such-docker.sock (from DOCKER_HOST): nothing is listening there (is Docker running?)\n" +
        "  Start Docker: sudo systemctl start docker   (or start Docker Desktop), then run this command again.\n",
    );
    const closed = `127.0.0.1:${await freePort()}`;
    const noVenue = cli(["pull", "-r", closed]);
    expect(noVenue.status).to.equal(4);
    expect(noVenue.stderr).to.equal(
      `✖ Could not read the venue's image list from http://${closed}/attendee/venue-lock.json: ${closed}: connection refused (nothing listens there)\n` +
        "  Check that you are on the venue Wi-Fi and that the address matches the one on the projector.\n" +
        `  Test it in a browser: http://${closed}/attendee/venue-lock.json\n`,
    );
  });

  it("configure adds the venue, reloads dockerd and docker info shows it; undo restores the file byte for byte", () => {
    const before = fs.readFileSync(dockerd.configFile);
    const configure = cli(["configure", "--registry", "venue.test:5000", ...engineFlags()]);
    expect(configure.stderr).to.equal("Waiting for Docker to read the new settings (waiting up to 20 s)\nDocker is answering with the new settings.\n");
    expect(configure.stdout).to.equal(
      [
        `Docker: a dockerd with a given daemon.json and process id, settings file ${dockerd.configFile}.`,
        `Added venue.test:5000 to "insecure-registries" in ${dockerd.configFile} (backup: ${dockerd.configFile}.venue-backup).`,
        `Reloaded Docker (sent SIGHUP to dockerd (pid ${dockerd.process.pid})); running containers keep running.`,
        `Docker now lists venue.test:5000 under "Insecure Registries".`,
        "",
      ].join("\n"),
    );
    expect(configure.status).to.equal(0);
    expect(dockerd.docker(["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"])).to.include('"venue.test:5000":{"Name":"venue.test:5000","Mirrors":[],"Secure":false');

    const again = cli(["configure", "--registry", "venue.test:5000", ...engineFlags(), "--json"]);
    expect(again.status).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ command: "configure", ok: true, changed: false, applied: "not needed" });

    const undo = cli(["undo", "--registry", "venue.test:5000", ...engineFlags()]);
    expect(undo.status).to.equal(0);
    expect(undo.stdout).to.include(`Restored ${dockerd.configFile} exactly as it was (from ${dockerd.configFile}.venue-backup).\n`);
    expect(undo.stdout).to.include("Docker is back to its own settings.\n");
    expect(fs.readFileSync(dockerd.configFile).equals(before)).to.equal(true);
    expect(dockerd.docker(["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"])).to.not.include("venue.test:5000");
  });

  it("refuses a broken daemon.json with exit 7, naming line and column, and leaves it alone", async () => {
    const dir = makeTempDir("broken-daemon-json");
    const file = path.join(dir, "daemon.json");
    fs.writeFileSync(file, `{\n  "debug": true,\n}\n`);
    const result = cli(["configure", "--registry", "venue.test:5000", "--daemon-config", file, "--dockerd-pid", String(dockerd.process.pid)]);
    expect(result.status).to.equal(7);
    expect(result.stderr).to.equal(
      `✖ ${file} is not valid JSON: a property name in double quotes was expected (a trailing comma?) at line 3, column 1. Nothing was changed. Fix ${file} (or move it away), then run this command again.\n` +
        `  Open ${file}, go to line 3, column 1, and fix the JSON there.\n` +
        "  Step by step, for your system: http://venue.test:5000/guides/linux#if-configure-fails\n",
    );
    expect(fs.readFileSync(file, "utf8")).to.equal(`{\n  "debug": true,\n}\n`);
    expect(fs.readdirSync(dir)).to.deep.equal(["daemon.json"]);
  });

  it("setup pulls everything through the front door with readable non-TTY progress, verifies, and --json parses", () => {
    const result = cli(["--registry", venue.frontDoor, "--json", "--yes", ...engineFlags()], { NO_COLOR: "1" });
    expect(result.status, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as {
      command: string;
      ok: boolean;
      pull: { images: Array<{ workshopName: string; origin: string }>; failed: unknown[]; fallbacks: unknown[] };
      verify: { images: Array<{ workshopName: string; status: string }>; venue: Array<{ registry: string; insecure: boolean; answers: boolean }> };
    };
    expect(report.command).to.equal("setup");
    expect(report.ok).to.equal(true);
    expect(report.pull.images.map((i) => `${i.workshopName} ${i.origin}`).sort()).to.deep.equal(["workshop/app:latest venue", "workshop/hello:1.0 venue", "workshop/tools:2-alpine venue"]);
    expect(report.pull.fallbacks).to.deep.equal([]);
    expect(report.verify.images.map((i) => i.status)).to.deep.equal(["ok", "ok", "ok"]);
    expect(report.verify.venue).to.deep.equal([{ registry: venue.frontDoor, insecure: true, answers: true, problem: null }]);

    // Without a terminal: one plain line per event, no carriage returns or escape codes.
    const lines = result.stderr.split("\n");
    expect(result.stderr).to.not.match(/\r|\u001b\[/);
    expect(lines).to.include("Step 2 of 3: pull the workshop images");
    expect(lines.some((l) => /^\[\d\/3\] workshop\/hello:1\.0: pulling [\d.]+ [kM]B from the venue \(127\.0\.0\.1:\d+\/library\/hello@sha256:[0-9a-f]{64}\)$/.test(l))).to.equal(true);
    expect(lines.some((l) => /^\[\d\/3\] workshop\/hello:1\.0: done, [\d.]+ [kM]B in \d+\.\d s from the venue$/.test(l))).to.equal(true);
    expect(lines.filter((l) => l.startsWith("ok       workshop/"))).to.have.length(3);
    expect(lines).to.include("Ready. Check with: docker images | grep workshop");
    expect(dockerd.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").filter((l) => l.startsWith("workshop/")).sort()).to.deep.equal([
      "workshop/app:latest",
      "workshop/hello:1.0",
      "workshop/tools:2-alpine",
    ]);
    expect(dockerd.docker(["run", "--rm", "--network", "none", "workshop/tools:2-alpine"]).trim()).to.equal("library/tools:2-alpine linux/amd64");

    const verify = cli(["verify", "--registry", venue.frontDoor]);
    expect(verify.status).to.equal(0);
    expect(verify.stdout).to.include("All 3 workshop images are in place.\n");
    const status = cli(["status", "--registry", venue.frontDoor, "--json", ...engineFlags()]);
    expect(status.status).to.equal(0);
    const checks = (JSON.parse(status.stdout) as { checks: Array<{ check: string; ok: boolean }> }).checks;
    expect(checks.map((c) => `${c.check} ${c.ok}`)).to.deep.equal([
      "docker true",
      "flavour true",
      "daemon.json true",
      `insecure ${venue.frontDoor} true`,
      `venue ${venue.frontDoor} true`,
      "disk true",
      "images true",
    ]);
  });

  it("falls back to the stand-in Docker Hub with a notice when the venue registry is down, and from the saved list when the front door is gone", async () => {
    const fresh = await startDockerd();
    const downVenue = await startTestVenue({ images: buildFixtureSet(), hub: venue.hub });
    const run = (args: string[]) => cli(args, { DOCKER_HOST: fresh.dockerHost });
    // The lock is read (and saved) while the front door works; then the registry behind it dies.
    await downVenue.replicas[0].kill();
    const pull = run(["pull", "--registry", downVenue.frontDoor, "--retry-delay-ms", "20"]);
    expect(pull.status, pull.stderr).to.equal(0);
    expect(pull.stdout).to.include("Notice: 3 images came from the internet instead of the venue:\n");
    expect(pull.stdout).to.match(new RegExp(`  workshop/hello:1\\.0 from ${venue.hub.host.replace(/\./g, "\\.")}/library/hello@sha256:[0-9a-f]{64}, because ${downVenue.frontDoor}: .*502 Bad Gateway`));
    expect(pull.stdout).to.include("They work the same; tell the facilitator so the venue can be checked.\n");
    expect(pull.stdout).to.match(/^workshop\/app:latest\s+fallback \(127\.0\.0\.1:\d+\)\s+[\d.]+ [kM]B\s+\d+\.\d s$/m);

    await downVenue.nginx.stop();
    for (const image of ["workshop/hello:1.0", "workshop/app:latest", "workshop/tools:2-alpine"]) fresh.docker(["rmi", image]);
    const offline = run(["--registry", downVenue.frontDoor, "--json", "--retry-delay-ms", "20"]);
    expect(offline.status, offline.stderr).to.equal(0);
    const report = JSON.parse(offline.stdout) as { pull: { fallbacks: Array<{ image: string }> }; verify: { images: Array<{ status: string }> } };
    expect(report.pull.fallbacks.map((f) => f.image).sort()).to.deep.equal(["workshop/app:latest", "workshop/hello:1.0", "workshop/tools:2-alpine"]);
    expect(report.verify.images.map((i) => i.status)).to.deep.equal(["ok", "ok", "ok"]);
    expect(offline.stderr).to.include(`The venue does not answer (${downVenue.frontDoor}: connection refused (nothing listens there)); using the image list saved at ${home}/.workshop-attendee/venue-lock-${downVenue.frontDoor.replace(":", "_")}.json.\n`);
    expect(offline.stderr).to.include("Step 1 of 3: skipped (the venue does not answer, so Docker's settings stay as they are)\n");

    const noFallback = run(["pull", "--registry", downVenue.frontDoor, "--no-fallback", "--retry-delay-ms", "20"]);
    expect(noFallback.status).to.equal(4);
    await fresh.stop();
  });

  it("stops at the source registry's pull limit with one piece of advice, not one per image", async () => {
    const fresh = await startDockerd();
    const downVenue = await startTestVenue({ images: buildFixtureSet(), hub: venue.hub });
    const limited = await startRateLimitedRegistry(venue.hub);
    try {
      // The venue's images name the rate-limited registry as their source.
      writeLockForVenue(downVenue.wwwDir, JSON.parse(JSON.stringify(downVenue.lock).split(venue.hub.host).join(limited.host)) as VenueLock);
      await downVenue.replicas[0].kill();
      const pull = cli(["pull", "--registry", downVenue.frontDoor, "--retry-delay-ms", "20"], { DOCKER_HOST: fresh.dockerHost });
      expect(pull.status, pull.stderr).to.equal(1);
      const limit = rateLimitFailure(limited.host);
      for (const image of ["workshop/app:latest", "workshop/hello:1.0", "workshop/tools:2-alpine"]) {
        const failure = pull.stdout.split("\n").find((line) => line.startsWith(`Could not get ${image}: venue: `));
        expect(failure, pull.stdout).to.match(/502 Bad Gateway; fallback: /).and.satisfy((line: string) => line.endsWith(`; fallback: ${limit.error}`));
      }
      expect(pull.stdout.split(limit.advice)).to.have.length(2);
      expect(pull.stdout.trimEnd().endsWith(limit.advice)).to.equal(true);
    } finally {
      await limited.stop();
      await fresh.stop();
    }
  });

  describe("with mirror laptops", () => {
    /** Publishes mirrors.json on the venue's front door, world-readable as nginx's workers need. */
    function publishMirrors(mirrors: string[]): string {
      const file = path.join(venue.wwwDir, "attendee", "mirrors.json");
      writeMirrorList(file, buildMirrorList(venue.frontDoor, mirrors));
      fs.chmodSync(file, 0o644);
      return file;
    }
    const unpublishMirrors = () => fs.rmSync(path.join(venue.wwwDir, "attendee", "mirrors.json"), { force: true });
    afterEach(unpublishMirrors);

    /** A machine identity whose ranking puts `first` first: found by trying names, bounded. */
    function machineIdPreferring(registries: string[], first: string): string {
      for (let i = 0; i < 200; i++) {
        if (orderMirrorsForMachine(registries, `machine-${i}`)[0] === first) return `machine-${i}`;
      }
      throw new Error(`no machine-N among 200 ranks ${first} first`);
    }

    it("configure adds the venue and every mirror laptop to insecure-registries; undo takes them all out", () => {
      const mirrors = ["mirror-a.test:5000", "mirror-b.test:5000"];
      publishMirrors(mirrors);
      const order = orderMirrorsForMachine([venue.frontDoor, ...mirrors], "laptop-a");
      const before = fs.readFileSync(dockerd.configFile);
      const configure = cli(["configure", "--registry", venue.frontDoor, "--json", ...engineFlags()], { WORKSHOP_MACHINE_ID: "laptop-a" });
      expect(configure.status, configure.stderr).to.equal(0);
      const report = JSON.parse(configure.stdout) as { registries: string[]; added: string[]; serving: Record<string, unknown> };
      expect(report.registries).to.deep.equal(order);
      expect(report.added).to.deep.equal(order);
      expect(report.serving).to.deep.equal({
        assigned: order[0],
        registries: order,
        source: "mirror-list",
        mirrorListFrom: `http://${venue.frontDoor}/attendee/mirrors.json`,
      });
      expect(configure.stderr).to.include(`The venue has 3 serving laptops; this laptop pulls from ${order[0]}, and from ${order[1]}, then ${order[2]} if that stops answering.\n`);
      expect(configure.stderr).to.include(`Docker now lists ${order.join(", ")} under "Insecure Registries".\n`);
      const indexConfigs = dockerd.docker(["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"]);
      for (const mirror of mirrors) expect(indexConfigs).to.include(`"${mirror}":{"Name":"${mirror}","Mirrors":[],"Secure":false`);

      const undo = cli(["undo", "--registry", venue.frontDoor, ...engineFlags()]);
      expect(undo.status, undo.stderr).to.equal(0);
      expect(fs.readFileSync(dockerd.configFile).equals(before)).to.equal(true);
      const after = dockerd.docker(["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"]);
      for (const mirror of mirrors) expect(after).to.not.include(mirror);
    });

    it("warns about a mirror list it cannot use and carries on with the venue alone", () => {
      const file = publishMirrors([]);
      fs.writeFileSync(file, `{ "schemaVersion": 1, "primary": "${venue.frontDoor}", "mirrors": ["no port"] }`);
      const verify = cli(["verify", "--registry", venue.frontDoor, "--json"], { WORKSHOP_MACHINE_ID: "laptop-a" });
      expect(verify.status, verify.stderr).to.equal(0);
      const url = `http://${venue.frontDoor}/attendee/mirrors.json`;
      expect(verify.stderr.split("\n")[0]).to.equal(
        `Warning: ${url} is not a usable mirror list: mirrors.0: "no port" must be host:port, e.g. 192.168.1.20:5000; generatedAt: Required. Pulling from the venue (${venue.frontDoor}) alone; please tell the facilitator.`,
      );
      const report = JSON.parse(verify.stdout) as { serving: Record<string, unknown> };
      expect(report.serving).to.deep.equal({ assigned: venue.frontDoor, registries: [venue.frontDoor], source: "venue-only", mirrorListFrom: null });
    });

    it("pulls from this machine's assigned laptop, and fails over to the other when that one is down", async () => {
      const fresh = await startDockerd();
      const mirror = await startTestVenue({ images: buildFixtureSet(), hub: venue.hub });
      try {
        publishMirrors([mirror.frontDoor]);
        const serving = [venue.frontDoor, mirror.frontDoor];
        const prefersVenue = machineIdPreferring(serving, venue.frontDoor);
        const prefersMirror = machineIdPreferring(serving, mirror.frontDoor);
        const pull = (machineId: string) => {
          fresh.docker(["image", "prune", "--all", "--force"]);
          const result = cli(["pull", "--registry", venue.frontDoor, "--json", "--retry-delay-ms", "20"], { DOCKER_HOST: fresh.dockerHost, WORKSHOP_MACHINE_ID: machineId });
          expect(result.status, result.stderr).to.equal(0);
          const report = JSON.parse(result.stdout) as { serving: { assigned: string; registries: string[] }; pull: { images: Array<{ origin: string; registry: string }>; failed: unknown[] } };
          expect(report.pull.failed).to.deep.equal([]);
          return { report, stderr: result.stderr, from: report.pull.images.map((i) => `${i.origin} ${i.registry}`) };
        };

        const onMirror = pull(prefersMirror);
        // Kept for when the venue stops answering, next to the saved lock file.
        const saved = path.join(home, ".workshop-attendee", `venue-lock-${venue.frontDoor.replace(":", "_")}-mirrors.json`);
        expect(JSON.parse(fs.readFileSync(saved, "utf8"))).to.include({ primary: venue.frontDoor }).and.to.have.deep.property("mirrors", [mirror.frontDoor]);
        expect(onMirror.report.serving).to.include({ assigned: mirror.frontDoor });
        expect(onMirror.report.serving.registries).to.deep.equal([mirror.frontDoor, venue.frontDoor]);
        expect(onMirror.from).to.deep.equal(Array(3).fill(`venue ${mirror.frontDoor}`));
        expect(onMirror.stderr).to.include(`The venue has 2 serving laptops; this laptop pulls from ${mirror.frontDoor}, and from ${venue.frontDoor} if that stops answering.\n`);

        const onVenue = pull(prefersVenue);
        expect(onVenue.report.serving.registries).to.deep.equal([venue.frontDoor, mirror.frontDoor]);
        expect(onVenue.from).to.deep.equal(Array(3).fill(`venue ${venue.frontDoor}`));

        // The mirror laptop goes away: its attendees finish from the venue, not from the internet.
        await mirror.nginx.stop();
        const failedOver = pull(prefersMirror);
        expect(failedOver.report.serving).to.include({ assigned: mirror.frontDoor });
        expect(failedOver.from).to.deep.equal(Array(3).fill(`venue ${venue.frontDoor}`));
        expect(failedOver.stderr).to.include(`The venue registry ${mirror.frontDoor} is not answering (`);
        expect(failedOver.stderr).to.not.include("came from the internet");
        expect(fresh.docker(["run", "--rm", "--network", "none", "workshop/hello:1.0"]).trim()).to.equal("library/hello:1.0 linux/amd64");
      } finally {
        await fresh.stop();
      }
    });

    it("pulls from the mirror laptops it saved when the venue's own laptop stops answering", async () => {
      const fresh = await startDockerd();
      const primary = await startTestVenue({ images: buildFixtureSet(), hub: venue.hub });
      const mirror = await startTestVenue({ images: buildFixtureSet(), hub: venue.hub });
      try {
        const listFile = path.join(primary.wwwDir, "attendee", "mirrors.json");
        writeMirrorList(listFile, buildMirrorList(primary.frontDoor, [mirror.frontDoor]));
        fs.chmodSync(listFile, 0o644);
        // This laptop's assigned one is the primary: the laptop that is about to disappear.
        const machineId = machineIdPreferring([primary.frontDoor, mirror.frontDoor], primary.frontDoor);
        const pull = () => {
          fresh.docker(["image", "prune", "--all", "--force"]);
          const result = cli(["pull", "--registry", primary.frontDoor, "--json", "--retry-delay-ms", "20"], { DOCKER_HOST: fresh.dockerHost, WORKSHOP_MACHINE_ID: machineId });
          expect(result.status, result.stderr).to.equal(0);
          const report = JSON.parse(result.stdout) as { lockCached: boolean; serving: { registries: string[]; mirrorListFrom: string }; pull: { images: Array<{ origin: string; registry: string }> } };
          return { report, stderr: result.stderr, from: report.pull.images.map((i) => `${i.origin} ${i.registry}`) };
        };

        const online = pull();
        expect(online.from).to.deep.equal(Array(3).fill(`venue ${primary.frontDoor}`));

        await primary.nginx.stop();
        const offline = pull();
        const savedLock = path.join(home, ".workshop-attendee", `venue-lock-${primary.frontDoor.replace(":", "_")}.json`);
        const savedList = savedLock.replace(/\.json$/, "-mirrors.json");
        expect(offline.stderr).to.include(`The venue did not send its mirror list (connection refused (nothing listens there)); using the one saved at ${savedList}.\n`);
        expect(offline.stderr).to.include(`using the image list saved at ${savedLock}.\n`);
        expect(offline.report.lockCached).to.equal(true);
        expect(offline.report.serving).to.deep.include({ registries: [primary.frontDoor, mirror.frontDoor], mirrorListFrom: savedList });
        // Every image from the mirror laptop, none from the internet.
        expect(offline.from).to.deep.equal(Array(3).fill(`venue ${mirror.frontDoor}`));
        expect(offline.stderr).to.not.include("came from the internet");
      } finally {
        await mirror.nginx.stop();
        await fresh.stop();
      }
    });
  });
});

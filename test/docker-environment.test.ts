import { expect } from "chai";
import * as fs from "fs";
import { EngineEndpoint, EngineInfo } from "../lib/docker-engine";
import { applyDaemonConfig, CommandResult, configFileOfProcess, detectDockerEnvironment, EnvironmentProbe, runCommand, systemProbe } from "../lib/docker-environment";
import { startDockerd } from "./support/services";

interface ProbeSetup {
  platform: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  files?: Record<string, string>;
  commands?: Record<string, CommandResult>;
}

function probe(setup: ProbeSetup): EnvironmentProbe & { calls: string[] } {
  const files = setup.files ?? {};
  const calls: string[] = [];
  return {
    platform: setup.platform,
    env: setup.env ?? {},
    homeDir: setup.homeDir ?? "/home/ada",
    uid: 1000,
    readText: (file) => files[file],
    exists: (file) => file in files,
    run: async (program, args) => {
      const line = [program, ...args].join(" ");
      calls.push(line);
      return setup.commands?.[line] ?? { code: 127, stdout: "", stderr: `${program}: not found` };
    },
    calls,
  };
}

const unix = (socketPath: string): EngineEndpoint => ({ host: `unix://${socketPath}`, origin: "default", transport: { kind: "unix", socketPath } });
const desktopInfo: EngineInfo = { OperatingSystem: "Docker Desktop", OSType: "linux" };
const ok: CommandResult = { code: 0, stdout: "", stderr: "" };

describe("docker-environment", () => {
  it("Docker Desktop on macOS: ~/.docker/daemon.json, restart", () => {
    const env = detectDockerEnvironment(probe({ platform: "darwin", homeDir: "/Users/ada" }), { info: desktopInfo, endpoint: unix("/var/run/docker.sock") });
    expect(env).to.deep.equal({
      platform: "darwin",
      flavour: "docker-desktop-macos",
      label: "Docker Desktop on macOS",
      daemonConfigPath: "/Users/ada/.docker/daemon.json",
      apply: { kind: "desktop-restart", os: "macos" },
      keepsContainersRunning: false,
    });
  });

  it("Docker Desktop on Windows: %USERPROFILE%\\.docker\\daemon.json; Windows containers engine: ProgramData and manual steps", () => {
    const desktop = detectDockerEnvironment(probe({ platform: "win32", env: { USERPROFILE: "C:\\Users\\ada" } }), { info: desktopInfo });
    expect([desktop.flavour, desktop.daemonConfigPath, desktop.apply]).to.deep.equal(["docker-desktop-windows", "C:\\Users\\ada\\.docker\\daemon.json", { kind: "desktop-restart", os: "windows" }]);
    const engine = detectDockerEnvironment(probe({ platform: "win32", env: { ProgramData: "C:\\ProgramData" } }), { info: { OperatingSystem: "Windows Server 2022", OSType: "windows" } }, "10.0.0.2:5000");
    expect(engine.flavour).to.equal("windows-engine");
    expect(engine.daemonConfigPath).to.equal("C:\\ProgramData\\docker\\config\\daemon.json");
    expect(engine.apply).to.deep.equal({
      kind: "manual",
      steps: ["Open PowerShell as Administrator.", 'Add "insecure-registries": ["10.0.0.2:5000"] to C:\\ProgramData\\docker\\config\\daemon.json', "Run: Restart-Service docker   (this stops running containers)"],
    });
  });

  it("Linux with systemd: /etc/docker/daemon.json (or dockerd's --config-file), systemctl reload", () => {
    const env = detectDockerEnvironment(
      probe({ platform: "linux", files: { "/run/systemd/system": "", "/var/run/docker.pid": "812\n", "/proc/812/cmdline": "/usr/bin/dockerd\0-H\0fd://\0" } }),
      { info: { OperatingSystem: "Ubuntu 24.04 LTS", SecurityOptions: ["name=apparmor"] }, endpoint: unix("/var/run/docker.sock") },
    );
    expect([env.flavour, env.daemonConfigPath, env.apply, env.keepsContainersRunning]).to.deep.equal(["linux-systemd", "/etc/docker/daemon.json", { kind: "systemctl-reload", unit: "docker" }, true]);
    const custom = detectDockerEnvironment(
      probe({ platform: "linux", files: { "/run/systemd/system": "", "/run/docker.pid": "9", "/proc/9/cmdline": "dockerd\0--config-file=/srv/docker.json\0" } }),
      { info: { OperatingSystem: "Debian GNU/Linux 12" } },
    );
    expect(custom.daemonConfigPath).to.equal("/srv/docker.json");
  });

  it("Linux without systemd: SIGHUP to the pid in /var/run/docker.pid; nothing found: manual", () => {
    const env = detectDockerEnvironment(probe({ platform: "linux", files: { "/var/run/docker.pid": "77" } }), { info: { OperatingSystem: "Alpine Linux" } });
    expect([env.flavour, env.apply]).to.deep.equal(["linux-dockerd", { kind: "signal", pid: 77 }]);
    const unknown = detectDockerEnvironment(probe({ platform: "linux" }), { info: { OperatingSystem: "Alpine Linux" } });
    expect(unknown.flavour).to.equal("unknown");
    expect(unknown.apply.kind).to.equal("manual");
  });

  it("rootless: $XDG_CONFIG_HOME/docker/daemon.json, SIGHUP to the pid in $XDG_RUNTIME_DIR/docker.pid", () => {
    const info = { OperatingSystem: "Fedora Linux 40", SecurityOptions: ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"] };
    const env = detectDockerEnvironment(probe({ platform: "linux", env: { XDG_RUNTIME_DIR: "/run/user/1000" }, files: { "/run/user/1000/docker.pid": "4242" } }), { info });
    expect([env.flavour, env.daemonConfigPath, env.apply]).to.deep.equal(["linux-rootless", "/home/ada/.config/docker/daemon.json", { kind: "signal", pid: 4242 }]);
    const xdg = detectDockerEnvironment(probe({ platform: "linux", env: { XDG_CONFIG_HOME: "/cfg" } }), { info });
    expect(xdg.daemonConfigPath).to.equal("/cfg/docker/daemon.json");
    expect(xdg.apply).to.deep.equal({ kind: "manual", steps: ["Run: systemctl --user restart docker   (this stops running containers)", "Then run this command again."] });
  });

  it("Docker Desktop on Linux is told apart from the engine by the operating system it reports", () => {
    const env = detectDockerEnvironment(probe({ platform: "linux", files: { "/run/systemd/system": "" } }), { info: desktopInfo, endpoint: unix("/home/ada/.docker/desktop/docker.sock") });
    expect([env.flavour, env.daemonConfigPath, env.apply]).to.deep.equal(["docker-desktop-linux", "/home/ada/.docker/daemon.json", { kind: "desktop-restart", os: "linux" }]);
  });

  it("names Colima, Rancher Desktop, OrbStack, Podman and remote engines, with manual steps", () => {
    const cases: Array<[EngineEndpoint, string]> = [
      [unix("/Users/ada/.colima/default/docker.sock"), "colima"],
      [unix("/Users/ada/.rd/docker.sock"), "rancher-desktop"],
      [unix("/Users/ada/.orbstack/run/docker.sock"), "orbstack"],
      [unix("/run/user/1000/podman/podman.sock"), "podman"],
      [{ host: "tcp://10.0.0.9:2375", origin: "DOCKER_HOST", transport: { kind: "tcp", baseUrl: "http://10.0.0.9:2375" } }, "remote-engine"],
    ];
    for (const [endpoint, flavour] of cases) {
      const env = detectDockerEnvironment(probe({ platform: "darwin" }), { endpoint, info: { OperatingSystem: "Ubuntu" } }, "10.0.0.2:5000");
      expect(env.flavour, endpoint.host).to.equal(flavour);
      expect(env.apply.kind).to.equal("manual");
      expect(env.daemonConfigPath).to.equal(undefined);
    }
    const colima = detectDockerEnvironment(probe({ platform: "darwin" }), { endpoint: cases[0][0] }, "10.0.0.2:5000");
    expect(colima.apply).to.deep.equal({
      kind: "manual",
      steps: ["Run: colima stop", 'Run: colima start --edit   and add under docker: "insecure-registries": ["10.0.0.2:5000"]', "Then run this command again."],
    });
  });

  it("without an answering engine, an installed Docker.app still means Docker Desktop", () => {
    const env = detectDockerEnvironment(probe({ platform: "darwin", homeDir: "/Users/ada", files: { "/Applications/Docker.app": "" } }), {});
    expect(env.flavour).to.equal("docker-desktop-macos");
  });

  describe("applying the change", () => {
    it("Docker Desktop: `docker desktop restart` when it exists", async () => {
      const p = probe({ platform: "darwin", commands: { "docker desktop restart": ok } });
      const env = detectDockerEnvironment(p, { info: desktopInfo });
      expect(await applyDaemonConfig(env, p)).to.deep.equal({ kind: "restarting", how: "docker desktop restart" });
      expect(p.calls).to.deep.equal(["docker desktop restart"]);
    });

    it("older Docker Desktop on macOS: quit and reopen the app", async () => {
      const p = probe({ platform: "darwin", commands: { 'osascript -e quit app "Docker"': ok, "open -a Docker": ok } });
      const env = detectDockerEnvironment(p, { info: desktopInfo });
      expect(await applyDaemonConfig(env, p)).to.deep.equal({ kind: "restarting", how: "quit and reopened Docker Desktop" });
      expect(p.calls).to.deep.equal(["docker desktop restart", 'osascript -e quit app "Docker"', "open -a Docker"]);
    });

    it("older Docker Desktop on Windows: the person restarts it, told exactly how", async () => {
      const p = probe({ platform: "win32" });
      const env = detectDockerEnvironment(p, { info: desktopInfo });
      expect(await applyDaemonConfig(env, p)).to.deep.equal({
        kind: "needs-person",
        steps: ["Click the Docker whale icon near the clock, choose Restart (or Quit Docker Desktop, then start it again from the Start menu)."],
      });
    });

    it("systemd: systemctl reload docker; refused for lack of rights: says to use sudo", async () => {
      const files = { "/run/systemd/system": "" };
      const good = probe({ platform: "linux", files, commands: { "systemctl reload docker": ok } });
      expect(await applyDaemonConfig(detectDockerEnvironment(good, { info: {} }), good)).to.deep.equal({ kind: "reloaded", how: "systemctl reload docker" });
      const denied = probe({
        platform: "linux",
        files,
        commands: { "systemctl reload docker": { code: 1, stdout: "", stderr: "Failed to reload docker.service: Access denied\n" } },
      });
      expect(await applyDaemonConfig(detectDockerEnvironment(denied, { info: {} }), denied)).to.deep.equal({
        kind: "permission-needed",
        command: "sudo systemctl reload docker",
        detail: "Failed to reload docker.service: Access denied",
      });
    });
  });

  it("runCommand reports a missing program as exit 127 instead of throwing", async () => {
    const result = await runCommand("definitely-not-a-program-here", []);
    expect(result.code).to.equal(127);
  });
});

describe("docker-environment with a real dockerd @system", function () {
  this.timeout(120_000);

  it("reads the running dockerd's --config-file from /proc and reloads it with SIGHUP", async () => {
    const dockerd = await startDockerd();
    const pid = dockerd.process.pid!;
    expect(configFileOfProcess(systemProbe(), pid)).to.equal(dockerd.configFile);
    const env = detectDockerEnvironment(systemProbe(), { dockerdPidOverride: pid });
    expect(await applyDaemonConfig(env, systemProbe())).to.deep.equal({ kind: "reloaded", how: `sent SIGHUP to dockerd (pid ${pid})` });
    // The reload is logged by the daemon itself; the process keeps running.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !fs.readFileSync(dockerd.logFile, "utf8").includes(`Got signal to reload configuration, reloading from: ${dockerd.configFile}`)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(fs.readFileSync(dockerd.logFile, "utf8")).to.include(`Got signal to reload configuration, reloading from: ${dockerd.configFile}`);
    expect(dockerd.process.exitCode).to.equal(null);
    await dockerd.stop();
  });
});

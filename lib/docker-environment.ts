/**
 * Which Docker the attendee has, where its daemon.json lives, and how to make the daemon read it
 * again. Everything the decision reads (platform, environment, home folder, files, commands) comes
 * through an EnvironmentProbe, so every flavour's decision can be exercised on any machine.
 */
import { spawn } from "child_process";
import * as path from "path";
import { defaultEndpointLookup, EngineEndpoint, EngineInfo } from "./docker-engine";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (program: string, args: string[], options?: { timeoutMs?: number }) => Promise<CommandResult>;

/** Runs a program without a shell; a missing program is exit code 127, never a throw. */
export const runCommand: CommandRunner = (program, args, options = {}) =>
  new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let child;
    try {
      child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], timeout: options.timeoutMs ?? 120_000, windowsHide: true });
    } catch (error) {
      resolve({ code: 127, stdout: "", stderr: (error as Error).message });
      return;
    }
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", (error) => resolve({ code: 127, stdout, stderr: stderr + error.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });

export interface EnvironmentProbe {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  homeDir: string;
  /** Effective user id (undefined on Windows). */
  uid?: number;
  readText(file: string): string | undefined;
  exists(file: string): boolean;
  run: CommandRunner;
}

export function systemProbe(): EnvironmentProbe {
  return {
    ...defaultEndpointLookup(),
    uid: typeof process.getuid === "function" ? process.getuid() : undefined,
    run: runCommand,
  };
}

export type DockerFlavour =
  | "docker-desktop-macos"
  | "docker-desktop-windows"
  | "docker-desktop-linux"
  | "linux-systemd"
  | "linux-rootless"
  | "linux-dockerd"
  | "windows-engine"
  | "colima"
  | "rancher-desktop"
  | "orbstack"
  | "podman"
  | "remote-engine"
  | "custom"
  | "unknown";

export const FLAVOUR_LABELS: Record<DockerFlavour, string> = {
  "docker-desktop-macos": "Docker Desktop on macOS",
  "docker-desktop-windows": "Docker Desktop on Windows",
  "docker-desktop-linux": "Docker Desktop on Linux",
  "linux-systemd": "Docker Engine on Linux (systemd)",
  "linux-rootless": "rootless Docker on Linux",
  "linux-dockerd": "Docker Engine on Linux (no systemd)",
  "windows-engine": "Docker Engine on Windows (Windows containers)",
  colima: "Colima",
  "rancher-desktop": "Rancher Desktop",
  orbstack: "OrbStack",
  podman: "Podman",
  "remote-engine": "a Docker engine on another machine",
  custom: "a dockerd with a given daemon.json and process id",
  unknown: "an unrecognised Docker setup",
};

/** How the daemon is made to read daemon.json again. */
export type ApplyMethod =
  /** SIGHUP: reloads insecure-registries without stopping containers. */
  | { kind: "signal"; pid: number }
  /** `systemctl reload docker` (systemd sends the SIGHUP). */
  | { kind: "systemctl-reload"; unit: string }
  /** Docker Desktop must restart its VM; containers stop and start again. */
  | { kind: "desktop-restart"; os: "macos" | "windows" | "linux" }
  /** Nothing this tool can do safely: the person follows these steps. */
  | { kind: "manual"; steps: string[] };

export interface DockerEnvironment {
  platform: NodeJS.Platform;
  flavour: DockerFlavour;
  label: string;
  /** The daemon.json this Docker reads; undefined when it is not on this machine. */
  daemonConfigPath?: string;
  apply: ApplyMethod;
  /** True when applying the change keeps the attendee's running containers running. */
  keepsContainersRunning: boolean;
}

export interface DetectionInput {
  endpoint?: EngineEndpoint;
  /** undefined when the engine does not answer. */
  info?: EngineInfo;
  /** --daemon-config: the file to edit, whatever the flavour. */
  daemonConfigOverride?: string;
  /** --dockerd-pid: the process to send SIGHUP to. */
  dockerdPidOverride?: number;
}

const DEFAULT_LINUX_DAEMON_JSON = "/etc/docker/daemon.json";
const LINUX_PID_FILES = ["/var/run/docker.pid", "/run/docker.pid"];

function isDockerDesktop(info: EngineInfo | undefined): boolean {
  return /docker desktop/i.test(info?.OperatingSystem ?? "");
}

function isRootless(info: EngineInfo | undefined): boolean {
  return (info?.SecurityOptions ?? []).some((option) => option.includes("name=rootless"));
}

/** Reads the `--config-file` a running dockerd was started with, from /proc/<pid>/cmdline. */
export function configFileOfProcess(probe: EnvironmentProbe, pid: number): string | undefined {
  const cmdline = probe.readText(`/proc/${pid}/cmdline`);
  if (!cmdline) return undefined;
  const args = cmdline.split("\0");
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config-file" && args[i + 1]) return args[i + 1];
    if (args[i].startsWith("--config-file=")) return args[i].slice("--config-file=".length);
  }
  return undefined;
}

function readPid(probe: EnvironmentProbe, files: string[]): number | undefined {
  for (const file of files) {
    const text = probe.readText(file)?.trim();
    if (text && /^\d+$/.test(text)) return Number(text);
  }
  return undefined;
}

function socketPathOf(endpoint: EngineEndpoint | undefined): string {
  if (!endpoint) return "";
  const transport = endpoint.transport;
  if (transport.kind === "unix") return transport.socketPath;
  if (transport.kind === "npipe") return transport.pipePath;
  return transport.baseUrl;
}

function isRemote(endpoint: EngineEndpoint | undefined): boolean {
  if (!endpoint || endpoint.transport.kind !== "tcp") return false;
  const host = new URL(endpoint.transport.baseUrl).hostname;
  return !["127.0.0.1", "localhost", "::1", "[::1]"].includes(host);
}

function environment(
  probe: EnvironmentProbe,
  flavour: DockerFlavour,
  daemonConfigPath: string | undefined,
  apply: ApplyMethod,
): DockerEnvironment {
  const keepsContainersRunning = apply.kind === "signal" || apply.kind === "systemctl-reload";
  return { platform: probe.platform, flavour, label: FLAVOUR_LABELS[flavour], daemonConfigPath, apply, keepsContainersRunning };
}

/** Steps for setups this tool does not edit itself; `registry` is filled in by the caller's text. */
export function manualStepsFor(flavour: DockerFlavour, registry: string): string[] {
  const entry = `"insecure-registries": ["${registry}"]`;
  switch (flavour) {
    case "colima":
      return [
        "Run: colima stop",
        `Run: colima start --edit   and add under docker: ${entry}`,
        "Then run this command again.",
      ];
    case "rancher-desktop":
      return [
        "Rancher Desktop keeps its engine settings inside its VM.",
        `Add ${entry} to /etc/docker/daemon.json inside the VM (rdctl shell), then restart Rancher Desktop.`,
        "Then run this command again.",
      ];
    case "orbstack":
      return [`Open OrbStack > Settings > Docker, add ${entry} to the engine configuration, click Apply & Restart.`, "Then run this command again."];
    case "podman":
      return [
        `Podman reads registries.conf, not daemon.json. Add to ~/.config/containers/registries.conf (inside "podman machine ssh" on macOS/Windows):`,
        `  [[registry]]\n  location = "${registry}"\n  insecure = true`,
        "Then run this command again.",
      ];
    case "remote-engine":
      return [
        "Your Docker engine runs on another machine (DOCKER_HOST or docker context).",
        `Add ${entry} to daemon.json on that machine and reload it, or run this command there.`,
      ];
    case "windows-engine":
      return [
        "Open PowerShell as Administrator.",
        `Add ${entry} to C:\\ProgramData\\docker\\config\\daemon.json`,
        "Run: Restart-Service docker   (this stops running containers)",
      ];
    default:
      return [
        `Add ${entry} to the daemon.json your Docker engine reads.`,
        "Reload or restart the Docker engine, then run this command again.",
      ];
  }
}

/**
 * Decides the flavour, the daemon.json path and how to apply a change. `registry` only shapes the
 * wording of manual steps.
 */
export function detectDockerEnvironment(probe: EnvironmentProbe, input: DetectionInput, registry = "<venue>"): DockerEnvironment {
  const { info, endpoint } = input;
  const home = probe.homeDir;

  if (input.dockerdPidOverride !== undefined) {
    const file = input.daemonConfigOverride ?? configFileOfProcess(probe, input.dockerdPidOverride) ?? DEFAULT_LINUX_DAEMON_JSON;
    return environment(probe, "custom", file, { kind: "signal", pid: input.dockerdPidOverride });
  }

  const socket = socketPathOf(endpoint);
  const other: DockerFlavour | undefined = /[\\/]\.colima[\\/]/.test(socket) || /colima/i.test(info?.Name ?? "")
    ? "colima"
    : /[\\/]\.rd[\\/]/.test(socket)
      ? "rancher-desktop"
      : /orbstack/i.test(socket) || /orbstack/i.test(info?.OperatingSystem ?? "")
        ? "orbstack"
        : /podman/i.test(socket)
          ? "podman"
          : isRemote(endpoint)
            ? "remote-engine"
            : undefined;
  if (other) {
    return environment(probe, other, input.daemonConfigOverride, { kind: "manual", steps: manualStepsFor(other, registry) });
  }

  const desktopFile = input.daemonConfigOverride ?? path.join(home, ".docker", "daemon.json");
  if (probe.platform === "darwin") {
    // Without an answering engine, an installed Docker.app is the best evidence.
    if (isDockerDesktop(info) || (!info && probe.exists("/Applications/Docker.app"))) {
      return environment(probe, "docker-desktop-macos", desktopFile, { kind: "desktop-restart", os: "macos" });
    }
    return environment(probe, "unknown", input.daemonConfigOverride, { kind: "manual", steps: manualStepsFor("unknown", registry) });
  }

  if (probe.platform === "win32") {
    if (info && !isDockerDesktop(info) && info.OSType === "windows") {
      const programData = probe.env.ProgramData ?? "C:\\ProgramData";
      const file = input.daemonConfigOverride ?? path.win32.join(programData, "docker", "config", "daemon.json");
      return environment(probe, "windows-engine", file, { kind: "manual", steps: manualStepsFor("windows-engine", registry) });
    }
    const userProfile = probe.env.USERPROFILE ?? home;
    const file = input.daemonConfigOverride ?? path.win32.join(userProfile, ".docker", "daemon.json");
    return environment(probe, "docker-desktop-windows", file, { kind: "desktop-restart", os: "windows" });
  }

  if (probe.platform === "linux") {
    if (isDockerDesktop(info)) {
      return environment(probe, "docker-desktop-linux", desktopFile, { kind: "desktop-restart", os: "linux" });
    }
    if (isRootless(info)) {
      const configHome = probe.env.XDG_CONFIG_HOME || path.join(home, ".config");
      const file = input.daemonConfigOverride ?? path.join(configHome, "docker", "daemon.json");
      const runtimeDir = probe.env.XDG_RUNTIME_DIR || (probe.uid !== undefined ? `/run/user/${probe.uid}` : undefined);
      const pid = runtimeDir ? readPid(probe, [path.join(runtimeDir, "docker.pid")]) : undefined;
      if (pid !== undefined) return environment(probe, "linux-rootless", file, { kind: "signal", pid });
      return environment(probe, "linux-rootless", file, {
        kind: "manual",
        steps: ["Run: systemctl --user restart docker   (this stops running containers)", "Then run this command again."],
      });
    }
    const pid = readPid(probe, LINUX_PID_FILES);
    const file = input.daemonConfigOverride ?? (pid !== undefined ? configFileOfProcess(probe, pid) : undefined) ?? DEFAULT_LINUX_DAEMON_JSON;
    if (probe.exists("/run/systemd/system")) {
      return environment(probe, "linux-systemd", file, { kind: "systemctl-reload", unit: "docker" });
    }
    if (pid !== undefined) return environment(probe, "linux-dockerd", file, { kind: "signal", pid });
    return environment(probe, "unknown", file, { kind: "manual", steps: manualStepsFor("unknown", registry) });
  }

  return environment(probe, "unknown", input.daemonConfigOverride, { kind: "manual", steps: manualStepsFor("unknown", registry) });
}

export type ApplyOutcome =
  | { kind: "reloaded"; how: string }
  | { kind: "restarting"; how: string }
  /** The person must act (restart Desktop by hand, follow steps); the caller then waits or stops. */
  | { kind: "needs-person"; steps: string[] }
  | { kind: "permission-needed"; command: string; detail: string };

/**
 * Makes the daemon read daemon.json again. Linux reloads (SIGHUP), which keeps containers running;
 * Docker Desktop restarts its VM. The caller waits for the engine afterwards.
 */
export async function applyDaemonConfig(env: DockerEnvironment, probe: EnvironmentProbe): Promise<ApplyOutcome> {
  const apply = env.apply;
  switch (apply.kind) {
    case "signal":
      try {
        process.kill(apply.pid, "SIGHUP");
        return { kind: "reloaded", how: `sent SIGHUP to dockerd (pid ${apply.pid})` };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EPERM") {
          return { kind: "permission-needed", command: `sudo kill -HUP ${apply.pid}`, detail: "only root may signal the Docker daemon" };
        }
        throw new Error(`could not signal dockerd (pid ${apply.pid}): ${(error as Error).message}`);
      }
    case "systemctl-reload": {
      const result = await probe.run("systemctl", ["reload", apply.unit], { timeoutMs: 60_000 });
      if (result.code === 0) return { kind: "reloaded", how: `systemctl reload ${apply.unit}` };
      const text = `${result.stderr}${result.stdout}`;
      if (/access denied|authentication|interactive|permission/i.test(text)) {
        return { kind: "permission-needed", command: `sudo systemctl reload ${apply.unit}`, detail: text.trim() };
      }
      throw new Error(`systemctl reload ${apply.unit} failed (exit ${result.code}): ${text.trim()}`);
    }
    case "desktop-restart": {
      // `docker desktop restart` exists from Docker Desktop 4.37.
      const viaCli = await probe.run("docker", ["desktop", "restart"], { timeoutMs: 180_000 });
      if (viaCli.code === 0) return { kind: "restarting", how: "docker desktop restart" };
      if (apply.os === "macos") {
        const quit = await probe.run("osascript", ["-e", 'quit app "Docker"'], { timeoutMs: 60_000 });
        if (quit.code === 0) {
          const open = await probe.run("open", ["-a", "Docker"], { timeoutMs: 60_000 });
          if (open.code === 0) return { kind: "restarting", how: "quit and reopened Docker Desktop" };
        }
      }
      return {
        kind: "needs-person",
        steps:
          apply.os === "windows"
            ? ["Click the Docker whale icon near the clock, choose Restart (or Quit Docker Desktop, then start it again from the Start menu)."]
            : ["Open the Docker Desktop menu and choose Restart (or quit Docker Desktop and start it again)."],
      };
    }
    case "manual":
      return { kind: "needs-person", steps: apply.steps };
  }
}

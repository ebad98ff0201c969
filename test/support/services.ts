/**
 * Real programs for the tests, started on 127.0.0.1 in throw-away folders: Debian's docker-registry,
 * nginx and dockerd. Nothing here imitates them. A program that is missing fails the test with the
 * apt package that provides it.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { DockerEngine, parseDockerHost } from "../../lib/docker-engine";
import { renderRegistryConfig } from "../../lib/registry-config";

const started: Array<{ name: string; stop: () => Promise<void> }> = [];

/** Fails with the apt package name when a Debian program the test needs is not installed. */
export function requireProgram(program: string, aptPackage: string): string {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    const candidate = path.join(dir, program);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(
    `This test needs "${program}", which is not installed. Install it with: apt-get install -y ${aptPackage}`,
  );
}

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `venue-${prefix}-`));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** The processes a process started (nginx's workers), from /proc. */
export function childProcessIds(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return fs.readFileSync(`/proc/${entry}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** An engine client for a test dockerd, reached through its own socket whatever the machine's Docker settings. */
export function engineFor(dockerd: RunningDockerd): DockerEngine {
  return new DockerEngine({
    endpoint: parseDockerHost(dockerd.dockerHost, { platform: "linux", env: {}, homeDir: "/nonexistent", readText: () => undefined, exists: () => false }, "DOCKER_HOST"),
  });
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export async function httpStatus(url: string): Promise<number> {
  const response = await fetch(url, { method: "GET" });
  await response.arrayBuffer();
  return response.status;
}

function track(name: string, stop: () => Promise<void>): void {
  started.push({ name, stop });
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Stops everything the tests started; the root hook calls it after the whole run. */
export async function stopAllServices(): Promise<void> {
  while (started.length > 0) {
    const service = started.pop()!;
    await service.stop().catch(() => undefined);
  }
}

/**
 * Starts a program with its output in a log file. With `netns`, inside that network namespace:
 * `ip netns exec` execs the program, so the child (and its pid) is the program itself.
 */
function spawnLogged(program: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv, netns?: string): ChildProcess {
  const log = fs.openSync(logFile, "a");
  const [command, commandArgs] = netns ? [requireProgram("ip", "iproute2"), ["netns", "exec", netns, program, ...args]] : [program, args];
  const child = spawn(command, commandArgs, { stdio: ["ignore", log, log], env: env ?? process.env });
  fs.closeSync(log);
  return child;
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

export interface RegistryOptions {
  /** Share an existing storage folder (replicas); a new one is made otherwise. */
  rootDirectory?: string;
  readOnly?: boolean;
  /** Extra YAML appended to the generated config (e.g. a token auth section). */
  extraConfig?: string;
  port?: number;
  /** Address to listen on (default 127.0.0.1); it must be reachable from here for the ready check. */
  host?: string;
  /** Run inside this network namespace (a bench's shaped link); the root namespace otherwise. */
  netns?: string;
}

export interface RunningRegistry {
  /** "127.0.0.1:PORT" (or the `host` option's address), as image references name it. */
  host: string;
  url: string;
  port: number;
  rootDirectory: string;
  logFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** SIGKILL, for failover tests. */
  kill(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const program = requireProgram("docker-registry", "docker-registry");
  const workDir = makeTempDir("registry");
  const rootDirectory = options.rootDirectory ?? path.join(workDir, "data");
  fs.mkdirSync(rootDirectory, { recursive: true });
  const port = options.port ?? (await freePort());
  const listenHost = options.host ?? "127.0.0.1";
  const configFile = path.join(workDir, "config.yml");
  let config = renderRegistryConfig({
    listenAddress: `${listenHost}:${port}`,
    rootDirectory,
    readOnly: options.readOnly ?? false,
  });
  if (options.extraConfig) config += options.extraConfig;
  fs.writeFileSync(configFile, config);
  const logFile = path.join(workDir, "registry.log");
  const child = spawnLogged(program, ["serve", configFile], logFile, undefined, options.netns);
  const url = `http://${listenHost}:${port}`;
  const registry: RunningRegistry = {
    host: `${listenHost}:${port}`,
    url,
    port,
    rootDirectory,
    logFile,
    process: child,
    stop: () => stopProcess(child),
    kill: () => stopProcess(child, "SIGKILL", 1_000),
  };
  track(`registry ${port}`, registry.stop);
  await waitFor(`docker-registry on ${url} (log: ${logFile})`, async () => {
    if (child.exitCode !== null) throw new Error(fs.readFileSync(logFile, "utf8"));
    const status = await httpStatus(`${url}/v2/`);
    return status === 200 || status === 401;
  });
  return registry;
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

export interface RunningNginx {
  prefix: string;
  configFile: string;
  errorLog: string;
  process: ChildProcess;
  stop(): Promise<void>;
  reload(): void;
}

/** `nginx -t` on a config text; returns nginx's output, throws with it when the config is refused. */
export function nginxTest(configText: string): string {
  const program = requireProgram("nginx", "nginx-light");
  const prefix = makeTempDir("nginx-t");
  fs.mkdirSync(path.join(prefix, "logs"), { recursive: true });
  const configFile = path.join(prefix, "nginx.conf");
  fs.writeFileSync(configFile, configText);
  try {
    return execFileSync(program, ["-t", "-p", prefix, "-c", configFile, "-e", path.join(prefix, "logs/error.log")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string };
    throw new Error(`nginx -t refused the config:\n${failure.stderr ?? ""}${failure.stdout ?? ""}`);
  }
}

export interface NginxOptions {
  /** Run inside this network namespace (a bench's shaped link); `readyUrl` must be reachable from here. */
  netns?: string;
}

/**
 * Runs nginx in the foreground with the given config. The config must use absolute paths or paths
 * relative to `prefix`, which this function creates and passes as -p.
 */
export async function startNginx(
  configText: string,
  readyUrl: string,
  prefix = makeTempDir("nginx"),
  options: NginxOptions = {},
): Promise<RunningNginx> {
  const program = requireProgram("nginx", "nginx-light");
  fs.mkdirSync(path.join(prefix, "logs"), { recursive: true });
  const configFile = path.join(prefix, "nginx.conf");
  fs.writeFileSync(configFile, configText);
  const errorLog = path.join(prefix, "logs", "error.log");
  const child = spawnLogged(
    program,
    ["-p", prefix, "-c", configFile, "-e", errorLog, "-g", "daemon off;"],
    path.join(prefix, "logs", "stdout.log"),
    undefined,
    options.netns,
  );
  const nginx: RunningNginx = {
    prefix,
    configFile,
    errorLog,
    process: child,
    stop: () => stopProcess(child, "SIGQUIT"),
    reload: () => {
      child.kill("SIGHUP");
    },
  };
  track(`nginx ${prefix}`, nginx.stop);
  await waitFor(`nginx (${readyUrl}, log: ${errorLog})`, async () => {
    if (child.exitCode !== null) throw new Error(fs.existsSync(errorLog) ? fs.readFileSync(errorLog, "utf8") : "exited");
    await httpStatus(readyUrl);
    return true;
  });
  return nginx;
}

// ---------------------------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------------------------

export interface RunningDockerd {
  /** DOCKER_HOST value, unix:///... */
  dockerHost: string;
  socketPath: string;
  configFile: string;
  dataRoot: string;
  logFile: string;
  process: ChildProcess;
  /** Environment for the docker CLI and for code that honours DOCKER_HOST. */
  env: NodeJS.ProcessEnv;
  docker(args: string[], options?: { input?: string; timeoutMs?: number }): string;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** daemon.json content; written to the file passed with --config-file. */
  daemonJson?: string;
}

let sharedDockerd: Promise<RunningDockerd> | undefined;

/** One dockerd for all tests that only need an engine (pull, inspect, run). */
export function sharedDockerdInstance(): Promise<RunningDockerd> {
  sharedDockerd ??= startDockerd();
  return sharedDockerd;
}

/**
 * A dockerd of the test's own: own socket, data root, exec root and --config-file. No bridge and no
 * iptables, so several can run side by side and none touches the machine's network.
 */
export async function startDockerd(options: DockerdOptions = {}): Promise<RunningDockerd> {
  const program = requireProgram("dockerd", "docker.io");
  requireProgram("docker", "docker.io");
  // Short paths: unix socket paths are limited to 108 bytes.
  const workDir = fs.mkdtempSync("/tmp/vd-");
  const socketPath = path.join(workDir, "docker.sock");
  const configFile = path.join(workDir, "daemon.json");
  fs.writeFileSync(configFile, options.daemonJson ?? "{}\n");
  const dataRoot = path.join(workDir, "data");
  const logFile = path.join(workDir, "dockerd.log");
  const child = spawnLogged(
    program,
    [
      "--host",
      `unix://${socketPath}`,
      "--data-root",
      dataRoot,
      "--exec-root",
      path.join(workDir, "exec"),
      "--pidfile",
      path.join(workDir, "dockerd.pid"),
      "--config-file",
      configFile,
      "--bridge",
      "none",
      "--iptables=false",
      "--ip6tables=false",
    ],
    logFile,
  );
  const dockerHost = `unix://${socketPath}`;
  const env = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: path.join(workDir, "client-config") };
  fs.mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
  const docker = (args: string[], runOptions: { input?: string; timeoutMs?: number } = {}): string =>
    execFileSync("docker", args, {
      env,
      encoding: "utf8",
      input: runOptions.input,
      timeout: runOptions.timeoutMs ?? 120_000,
      stdio: ["pipe", "pipe", "pipe"],
    });
  const running: RunningDockerd = {
    dockerHost,
    socketPath,
    configFile,
    dataRoot,
    logFile,
    process: child,
    env,
    docker,
    stop: () => stopProcess(child, "SIGTERM", 15_000),
  };
  track(`dockerd ${socketPath}`, running.stop);
  await waitFor(
    `dockerd on ${socketPath} (log: ${logFile})`,
    async () => {
      if (child.exitCode !== null) throw new Error(fs.readFileSync(logFile, "utf8").slice(-2000));
      docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5_000 });
      return true;
    },
    60_000,
    250,
  );
  return running;
}

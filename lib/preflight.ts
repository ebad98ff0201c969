/**
 * The facilitator's preflight: the checks that make `pulumi up` fail in its first seconds, with a
 * fix, instead of half-way through creating containers. The stack runs it before anything else, and
 * `npm run up` runs it before Pulumi starts.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { promisify } from "util";

const run = promisify(execFile);

export type CheckStatus = "ok" | "warn" | "fail";

export interface CheckResult {
  check: string;
  status: CheckStatus;
  message: string;
}

export interface PreflightOptions {
  /** The front door's LAN port. */
  port: number;
  /** The writable registry's port on 127.0.0.1. */
  mirrorPort: number;
  minFreeDiskGb: number;
  /** A folder on the disk that will hold the images (Docker's data lives on the same disk on a laptop). */
  dataDir: string;
  platform?: NodeJS.Platform;
}

/** The outside world the checks ask; the real one by default, narrower ones in tests. */
export interface PreflightProbes {
  dockerServerVersion(): Promise<string>;
  /** Names of running containers that publish this host port. */
  containersPublishing(port: number): Promise<string[]>;
  freeBytes(dir: string): Promise<number>;
  /** Where Docker Hub credentials were found, or undefined. */
  dockerHubCredentials(): Promise<string | undefined>;
}

/** Container names the stack gives its own listeners: a port they hold is not "taken". */
export const VENUE_CONTAINERS_BY_ROLE = { frontDoor: "venue-frontdoor", writer: "venue-registry-writer" } as const;

const GB = 1_000_000_000;

function formatGb(bytes: number): string {
  return `${(bytes / GB).toFixed(1)} GB`;
}

export function dockerCliProbes(): Pick<PreflightProbes, "dockerServerVersion" | "containersPublishing"> {
  return {
    async dockerServerVersion() {
      const { stdout } = await run("docker", ["version", "--format", "{{.Server.Version}}"], { timeout: 15_000 });
      return stdout.trim();
    },
    async containersPublishing(port: number) {
      const { stdout } = await run("docker", ["ps", "--filter", `publish=${port}`, "--format", "{{.Names}}"], { timeout: 15_000 });
      return stdout.split("\n").map((s) => s.trim()).filter(Boolean);
    },
  };
}

export async function statfsFreeBytes(dir: string): Promise<number> {
  let probe = dir;
  // The data folder may not exist yet on a first run: measure the nearest existing parent.
  while (!fs.existsSync(probe)) {
    const parent = path.dirname(probe);
    if (parent === probe) break;
    probe = parent;
  }
  const stats = await fs.promises.statfs(probe);
  return stats.bavail * stats.bsize;
}

/** Tries to listen where the front door will; EADDRINUSE means someone else holds the port. */
export function isPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE" || error.code === "EACCES") resolve(false);
      else reject(error);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function checkDocker(probes: PreflightProbes, platform: NodeJS.Platform): Promise<CheckResult> {
  try {
    const version = await probes.dockerServerVersion();
    return { check: "docker", status: "ok", message: `Docker Engine ${version} is running.` };
  } catch (error) {
    const start =
      platform === "linux"
        ? "start it with `sudo systemctl start docker`"
        : "start Docker Desktop and wait until it says \"Engine running\"";
    const detail = String((error as { stderr?: string }).stderr || (error as Error).message).trim().split("\n")[0];
    return {
      check: "docker",
      status: "fail",
      message: `Docker is not reachable (${detail}). The venue runs in Docker: ${start}, then run \`pulumi up --stack venue\` again.`,
    };
  }
}

async function checkPort(
  probes: PreflightProbes,
  port: number,
  host: string,
  role: string,
  ownContainer: string,
  configKey: string,
  platform: NodeJS.Platform,
): Promise<CheckResult> {
  if (await isPortFree(port, host)) return { check: `port ${port}`, status: "ok", message: `Port ${port} is free for the ${role}.` };
  const holders = await probes.containersPublishing(port).catch(() => [] as string[]);
  if (holders.includes(ownContainer)) {
    return { check: `port ${port}`, status: "ok", message: `Port ${port} is held by the venue's own ${role} (${ownContainer}): this is a re-run.` };
  }
  const who = holders.length > 0 ? ` by the container ${holders.join(", ")}` : "";
  const airplay =
    platform === "darwin" && (port === 5000 || port === 7000)
      ? " On macOS this is usually AirPlay Receiver: switch it off in System Settings > General > AirDrop & Handoff > AirPlay Receiver, or pick another port."
      : "";
  const stopIt = holders.length > 0 ? ` Stop it (docker stop ${holders[0]}) or pick another port:` : " Stop the program that uses it, or pick another port:";
  return {
    check: `port ${port}`,
    status: "fail",
    message: `Port ${port} (${role}) is already in use${who}.${airplay}${stopIt} pulumi config set ${configKey} ${port === 5000 ? 5050 : port + 50} --stack venue`,
  };
}

async function checkDisk(probes: PreflightProbes, dir: string, minFreeDiskGb: number): Promise<CheckResult> {
  const free = await probes.freeBytes(dir);
  const needed = minFreeDiskGb * GB;
  if (free >= needed) {
    return { check: "disk", status: "ok", message: `${formatGb(free)} free on the disk of ${dir} (at least ${minFreeDiskGb} GB needed).` };
  }
  return {
    check: "disk",
    status: "fail",
    message:
      `Only ${formatGb(free)} free on the disk of ${dir}, and the venue needs at least ${minFreeDiskGb} GB for the images. ` +
      "Free some space (e.g. `docker system prune`, empty the Trash), or lower the minimum if you know the images are small: " +
      `pulumi config set minFreeDiskGb ${Math.max(1, Math.floor(free / GB))} --stack venue`,
  };
}

async function checkCredentials(probes: PreflightProbes): Promise<CheckResult> {
  const where = await probes.dockerHubCredentials().catch(() => undefined);
  if (where) return { check: "docker hub login", status: "ok", message: `Docker Hub credentials found (${where}); mirroring uses them.` };
  return {
    check: "docker hub login",
    status: "warn",
    message:
      "No Docker Hub credentials found. Anonymous pulls are rate-limited per IP address and every manifest counts, so mirroring 20 images " +
      "for several platforms can hit the limit. Run `docker login` first, then `pulumi up --stack venue`.",
  };
}

export async function runPreflight(options: PreflightOptions, probes: PreflightProbes): Promise<CheckResult[]> {
  const platform = options.platform ?? process.platform;
  const docker = await checkDocker(probes, platform);
  return [
    docker,
    await checkPort(probes, options.port, "0.0.0.0", "front door", VENUE_CONTAINERS_BY_ROLE.frontDoor, "port", platform),
    await checkPort(probes, options.mirrorPort, "127.0.0.1", "writable registry", VENUE_CONTAINERS_BY_ROLE.writer, "mirrorPort", platform),
    await checkDisk(probes, options.dataDir, options.minFreeDiskGb),
    await checkCredentials(probes),
  ];
}

export function preflightPassed(results: CheckResult[]): boolean {
  return results.every((r) => r.status !== "fail");
}

export function formatPreflight(results: CheckResult[]): string {
  const mark: Record<CheckStatus, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL" };
  const lines = results.map((r) => `${mark[r.status]} ${r.check}: ${r.message}`);
  const failed = results.filter((r) => r.status === "fail").length;
  lines.push(failed === 0 ? "Preflight passed." : `Preflight failed: ${failed} check${failed > 1 ? "s" : ""} above need${failed > 1 ? "" : "s"} fixing before the venue can start.`);
  return lines.join("\n");
}

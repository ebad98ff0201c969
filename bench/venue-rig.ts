/**
 * A venue on 127.0.0.1 for the benchmarks: the writable registry holding the images, read-only
 * replicas on the same storage, and the front door nginx with the stack's generated config (only the
 * paths and ports differ). Real programs, started by test/support/services.ts.
 */
import * as fs from "fs";
import { NginxConfigOptions } from "../lib/nginx-config";
import { LocalFrontDoor, startLocalFrontDoor } from "../test/support/front-door";
import { FixtureImage, pushFixtures } from "../test/support/fixtures";
import { RunningRegistry, freePort, startRegistry } from "../test/support/services";

export type FrontDoorUnderTest = LocalFrontDoor;

export interface VenueRig {
  writer: RunningRegistry;
  replicas: RunningRegistry[];
  startFrontDoor(overrides?: Partial<NginxConfigOptions>): Promise<FrontDoorUnderTest>;
}

export async function startVenueRig(images: FixtureImage[], replicaCount = 2): Promise<VenueRig> {
  const writer = await startRegistry();
  await pushFixtures(writer.url, images);
  const replicas: RunningRegistry[] = [];
  for (let i = 0; i < replicaCount; i++) replicas.push(await startRegistry({ rootDirectory: writer.rootDirectory, readOnly: true }));
  const startFrontDoor = async (overrides: Partial<NginxConfigOptions> = {}): Promise<FrontDoorUnderTest> =>
    startLocalFrontDoor({
      storageRoot: writer.rootDirectory,
      replicas,
      monitorPort: await freePort(),
      statusAllow: ["127.0.0.1"],
      readyPath: "/healthz",
      overrides,
      prefixName: "bench-frontdoor",
    });
  return { writer, replicas, startFrontDoor };
}

/** Resident memory of nginx's master and workers, from /proc (Linux). */
export function nginxResidentBytes(masterPid: number): number {
  const pids = [masterPid];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may contain spaces.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === masterPid) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  let total = 0;
  for (const pid of pids) {
    try {
      const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      if (rss) total += Number(rss[1]) * 1024;
    } catch {
      // Gone.
    }
  }
  return total;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

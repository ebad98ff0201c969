/**
 * Front door throughput on 127.0.0.1: MB/s and p99 latency fetching one 32 MiB blob at concurrency
 * 1, 16 and 100, in one run, for
 *   - nginx serving the blob's data file statically with sendfile (the ceiling), plain and with
 *     aio threads (the better of the two is the ceiling the target is measured against),
 *   - the registry directly (one read-only replica),
 *   - the front door (generated config, blob fast path),
 * and, for information, the front door with aio off and with the fast path off (every blob proxied
 * through the replicas). Prints ratios against the ceiling and the registry.
 *
 * Load comes from wrk (apt-get install -y wrk). Each cell runs BENCH_ROUNDS times (default 3) for
 * BENCH_SECONDS (default 3), rounds interleaved across targets so that a burst of other work on the
 * machine does not land on one target only; the median round is reported.
 *
 *   npm run bench:frontdoor
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildFixtureImage } from "../test/support/fixtures";
import { freePort, makeTempDir, requireProgram, startNginx, stopAllServices } from "../test/support/services";
import { startVenueRig } from "./venue-rig";

const blobBytes = 32 * 1024 * 1024;
const concurrencies = [1, 16, 100];
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

interface Cell {
  requestsPerSecond: number;
  megabytesPerSecond: number;
  p99Ms: number;
  errors: number;
}

function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`wrk printed an unexpected duration: ${text}`);
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * factor;
}

function runWrk(url: string, connections: number): Cell {
  const output = execFileSync(
    "wrk",
    ["-t", String(Math.min(connections, 2)), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "30s", "--latency", url],
    { encoding: "utf8", timeout: (seconds + 60) * 1000 },
  );
  const requestsPerSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  // Bytes read per second, responses still in flight at the end included: at c=100 a 32 MiB
  // response takes seconds, so counting completed requests alone would under-report.
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB|TB)/.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output)?.[1];
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  if (!Number.isFinite(requestsPerSecond) || !p99 || !transfer) throw new Error(`could not read wrk's output:\n${output}`);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[transfer[2] as "B" | "KB" | "MB" | "GB" | "TB"];
  return { requestsPerSecond, megabytesPerSecond: (Number(transfer[1]) * unit) / 1e6, p99Ms: durationMs(p99), errors };
}

/** The ceiling: nginx, same worker settings, nothing but sendfile of the one file. */
async function startStaticNginx(dataFile: string, aioThreads: boolean): Promise<string> {
  const prefix = makeTempDir("bench-static");
  const port = await freePort();
  const config = [
    `user ${os.userInfo().username};`,
    "worker_processes auto;",
    "worker_rlimit_nofile 32768;",
    `pid ${path.join(prefix, "nginx.pid")};`,
    "events { worker_connections 8192; }",
    "http {",
    "    access_log off;",
    "    sendfile on;",
    "    tcp_nopush on;",
    ...(aioThreads ? ["    aio threads;"] : []),
    "    keepalive_requests 10000;",
    `    client_body_temp_path ${path.join(prefix, "body")};`,
    `    proxy_temp_path ${path.join(prefix, "proxy")};`,
    `    fastcgi_temp_path ${path.join(prefix, "fastcgi")};`,
    `    uwsgi_temp_path ${path.join(prefix, "uwsgi")};`,
    `    scgi_temp_path ${path.join(prefix, "scgi")};`,
    "    server {",
    `        listen 127.0.0.1:${port} backlog=4096 reuseport;`,
    `        location = /blob { alias ${dataFile}; default_type application/octet-stream; }`,
    "    }",
    "}",
    "",
  ].join("\n");
  await startNginx(config, `http://127.0.0.1:${port}/blob`, prefix);
  return `http://127.0.0.1:${port}/blob`;
}

function format(cell: Cell): string {
  return `${cell.megabytesPerSecond.toFixed(0).padStart(6)} MB/s  p99 ${cell.p99Ms.toFixed(1).padStart(8)} ms${cell.errors ? `  ${cell.errors} errors` : ""}`;
}

async function main(): Promise<void> {
  requireProgram("wrk", "wrk");
  const image = buildFixtureImage({
    repository: "bench/blob",
    tag: "1",
    format: "oci",
    platforms: ["linux/amd64"],
    single: true,
    payloadBytes: blobBytes - 64 * 1024,
  });
  const layer = image.platforms[0].layers[1];
  const rig = await startVenueRig([image]);
  const hex = layer.digest.slice("sha256:".length);
  const dataFile = path.join(rig.writer.rootDirectory, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
  if (fs.statSync(dataFile).size !== layer.size) throw new Error(`unexpected storage layout at ${dataFile}`);
  const blobPath = `/v2/${image.repository}/blobs/${layer.digest}`;

  const targets: Array<{ name: string; url: string }> = [
    { name: "ceiling: static sendfile", url: await startStaticNginx(dataFile, false) },
    { name: "ceiling: static sendfile, aio", url: await startStaticNginx(dataFile, true) },
    { name: "registry directly", url: `${rig.replicas[0].url}${blobPath}` },
    { name: "front door", url: `${(await rig.startFrontDoor()).url}${blobPath}` },
    { name: "front door, aio off", url: `${(await rig.startFrontDoor({ blobAio: "off" })).url}${blobPath}` },
    { name: "front door, fast path off", url: `${(await rig.startFrontDoor({ blobFastPath: false })).url}${blobPath}` },
  ];

  console.log(`blob ${layer.size} bytes, median of ${rounds} rounds of ${seconds} s per cell, wrk, ${os.cpus().length} cores, 127.0.0.1\n`);
  const results = new Map<string, Map<number, Cell>>();
  for (const c of concurrencies) {
    const samples = new Map<string, Cell[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) samples.get(target.name)!.push(runWrk(target.url, c));
    }
    for (const target of targets) {
      const cells = samples.get(target.name)!.sort((a, b) => a.megabytesPerSecond - b.megabytesPerSecond);
      const median = cells[Math.floor(cells.length / 2)];
      median.errors = cells.reduce((sum, cell) => sum + cell.errors, 0);
      if (!results.has(target.name)) results.set(target.name, new Map());
      results.get(target.name)!.set(c, median);
      console.log(`c=${String(c).padEnd(3)} ${target.name.padEnd(32)} ${format(median)}`);
    }
    console.log("");
  }

  console.log("ratios (MB/s; ceiling = the better static nginx at that concurrency)");
  const ceiling = new Map<number, Cell>();
  for (const c of concurrencies) {
    const [plain, aio] = [targets[0], targets[1]].map((t) => results.get(t.name)!.get(c)!);
    ceiling.set(c, plain.megabytesPerSecond >= aio.megabytesPerSecond ? plain : aio);
  }
  const registry = results.get("registry directly")!;
  for (const target of targets.slice(2)) {
    const cells = results.get(target.name)!;
    const ratios = concurrencies.map(
      (c) =>
        `c=${c}: ${(cells.get(c)!.megabytesPerSecond / ceiling.get(c)!.megabytesPerSecond).toFixed(2)}x ceiling, ` +
        `${(cells.get(c)!.megabytesPerSecond / registry.get(c)!.megabytesPerSecond).toFixed(2)}x registry`,
    );
    console.log(`${target.name.padEnd(32)} ${ratios.join(" | ")}`);
  }
  const frontDoorAt100 = results.get("front door")!.get(100)!.megabytesPerSecond / ceiling.get(100)!.megabytesPerSecond;
  console.log(`\ntarget: front door >= 0.90x the ceiling at c=100: ${frontDoorAt100.toFixed(2)}x ${frontDoorAt100 >= 0.9 ? "met" : "NOT met"}`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAllServices());

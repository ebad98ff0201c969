/**
 * The attendee CLI's pull against the obvious alternative: a sequential `docker pull` loop over the
 * same images from the same front door, in the same run, with the engine's images wiped between
 * runs. Prints both times and the ratio (target: 0.6 or less).
 *
 * Usage: npm run bench:attendee [-- --images 8 --mib 8 --rounds 2 --concurrency 4]
 * On loopback the machine's CPU (hashing and unpacking layers) is the limit, not the network.
 */
import { execFileSync, spawnSync } from "child_process";
import * as path from "path";
import { packAttendee } from "../scripts/pack-attendee";
import { startTestVenue } from "../test/support/attendee-venue";
import { buildFixtureImage, FixtureImageSpec } from "../test/support/fixtures";
import { makeTempDir, startDockerd, stopAllServices } from "../test/support/services";

function numberArgument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function main(): Promise<void> {
  const imageCount = numberArgument("--images", 8);
  const mib = numberArgument("--mib", 8);
  const rounds = numberArgument("--rounds", 2);
  const concurrency = numberArgument("--concurrency", 4);
  const deadline = Date.now() + 170_000;

  // Each image: the shared busybox base plus its own incompressible layer, like a workshop's
  // language runtimes and databases that share little.
  const specs: FixtureImageSpec[] = Array.from({ length: imageCount }, (_, i) => ({
    repository: `bench/image-${i + 1}`,
    tag: "1.0",
    format: i % 2 === 0 ? "oci" : "docker",
    platforms: ["linux/amd64"],
    single: true,
    payloadBytes: mib * 1024 * 1024,
  }));
  process.stdout.write(`building ${imageCount} images of ${mib} MiB each...\n`);
  const images = specs.map(buildFixtureImage);
  const venue = await startTestVenue({ images });
  const dockerd = await startDockerd();
  const packageDir = makeTempDir("bench-pack");
  const tgz = await packAttendee({ out: path.join(packageDir, "workshop-attendee.tgz") });
  execFileSync("tar", ["xzf", tgz, "-C", packageDir]);
  const cliJs = path.join(packageDir, "package", "cli.js");
  const home = makeTempDir("bench-home");

  const wipe = () => {
    dockerd.docker(["image", "prune", "-a", "-f"], { timeoutMs: 120_000 });
  };
  const sequentialLoop = (): number => {
    const started = process.hrtime.bigint();
    for (const image of images) dockerd.docker(["pull", "-q", `${venue.frontDoor}/${image.repository}@${image.digest}`], { timeoutMs: 120_000 });
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const attendeeCli = (): number => {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [cliJs, "pull", "--registry", venue.frontDoor, "--concurrency", String(concurrency), "--no-fallback"], {
      env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: dockerd.dockerHost },
      encoding: "utf8",
      timeout: 120_000,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) throw new Error(`the CLI failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
    return seconds;
  };

  const loopTimes: number[] = [];
  const cliTimes: number[] = [];
  for (let round = 1; round <= rounds && Date.now() < deadline; round++) {
    wipe();
    loopTimes.push(sequentialLoop());
    wipe();
    cliTimes.push(attendeeCli());
    process.stdout.write(`round ${round}: docker pull loop ${loopTimes[round - 1].toFixed(2)} s, workshop-attendee pull ${cliTimes[round - 1].toFixed(2)} s\n`);
  }
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const ratio = total(cliTimes) / total(loopTimes);
  const megabytes = (imageCount * mib * 1024 * 1024) / 1e6;
  process.stdout.write(
    `\n${imageCount} images, ${megabytes.toFixed(0)} MB, ${cliTimes.length} rounds, concurrency ${concurrency}, loopback, 2 cores\n` +
      `sequential docker pull loop: ${(total(loopTimes) / loopTimes.length).toFixed(2)} s per round\n` +
      `workshop-attendee pull:      ${(total(cliTimes) / cliTimes.length).toFixed(2)} s per round (includes Node start-up and reading the lock)\n` +
      `ratio (CLI / loop): ${ratio.toFixed(2)}x (target <= 0.60x)\n`,
  );
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`attendee bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAllServices());

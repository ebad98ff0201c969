import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { LockedImage, buildLock, computeTotals, fragmentFileName, readLock, readLockFragment, validateLock, writeLock, writeLockFragment } from "../lib/venue-lock";
import { makeTempDir } from "./support/services";

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

function image(target: string, platforms: Array<[string, Array<[number, number]>]>): LockedImage {
  const [repository, tag] = target.split(":");
  return {
    target,
    repository,
    tag,
    source: `docker.io/library/${repository.split("/")[1]}:${tag}`,
    sourceDigest: d(900),
    indexDigest: d(901),
    mediaType: "application/vnd.oci.image.index.v1+json",
    platforms: platforms.map(([platform, blobs], i) => ({
      platform,
      digest: d(800 + i),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 500,
      bytes: blobs.reduce((sum, [, size]) => sum + size, 0),
      blobs: blobs.map(([n, size]) => ({ digest: d(n), size })),
    })),
    mirroredAt: "2025-01-01T00:00:00.000Z",
  };
}

describe("venue-lock", () => {
  const postgres = image("workshop/postgres:15", [
    ["linux/amd64", [[1, 100], [2, 1000]]],
    ["linux/arm64", [[1, 100], [3, 2000]]],
  ]);
  const redis = image("workshop/redis:7", [["linux/amd64", [[1, 100], [4, 50]]]]);

  it("counts shared layers once per platform", () => {
    expect(computeTotals([postgres, redis])).to.deep.equal({ "linux/amd64": 1150, "linux/arm64": 2100 });
  });

  it("builds a lock sorted by target with totals", () => {
    const lock = buildLock([redis, postgres], ["linux/amd64", "linux/arm64"], new Date("2025-02-03T04:05:06Z"));
    expect(lock).to.deep.equal({
      schemaVersion: 1,
      generatedAt: "2025-02-03T04:05:06.000Z",
      platforms: ["linux/amd64", "linux/arm64"],
      images: [postgres, redis],
      totals: { "linux/amd64": 1150, "linux/arm64": 2100 },
    });
  });

  it("writes and reads fragments and the lock file", () => {
    const dir = makeTempDir("lock");
    const file = writeLockFragment(dir, postgres);
    expect(path.basename(file)).to.equal("workshop_postgres_15.json");
    expect(fragmentFileName("a/b:c")).to.equal("a_b_c.json");
    expect(readLockFragment(dir, "workshop/postgres:15")).to.deep.equal(postgres);
    expect(readLockFragment(dir, "workshop/none:1")).to.equal(undefined);
    const out = path.join(dir, "www", "venue-lock.json");
    writeLock(out, buildLock([postgres], ["linux/amd64"]));
    expect(readLock(out).images).to.deep.equal([postgres]);
    expect(fs.readdirSync(path.dirname(out))).to.deep.equal(["venue-lock.json"]);
  });

  it("refuses a damaged fragment or lock, naming the file and the field", () => {
    const dir = makeTempDir("lock");
    fs.writeFileSync(path.join(dir, "workshop_x_1.json"), JSON.stringify({ ...postgres, indexDigest: "sha256:nothex" }));
    expect(() => readLockFragment(dir, "workshop/x:1")).to.throw(`${path.join(dir, "workshop_x_1.json")} is not a lock fragment: indexDigest: must be sha256:<64 hex>`);
    expect(() => validateLock({ schemaVersion: 2 }, "venue-lock.json")).to.throw(/^venue-lock\.json is not a venue lock file: schemaVersion: /);
  });
});

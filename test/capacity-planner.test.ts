import { expect } from "chai";
import { bytesPerAttendee, planCapacity, platformMix } from "../lib/capacity-planner";

describe("capacity planner", () => {
  describe("planCapacity", () => {
    it("gives the time to serve everyone and the laptops for the target", () => {
      // 700 attendees x 2 GB at 100 MB/s: 14,000 s; a 30 min target needs 14000/1800 = 7.8, so 8 laptops.
      expect(planCapacity({ attendees: 700, bytesPerAttendee: 2_000_000_000, throughputBytesPerSecond: 100_000_000, targetMinutes: 30 })).to.deep.equal({
        totalBytes: 1_400_000_000_000,
        servingLaptops: 1,
        secondsToServeAll: 14_000,
        laptopsNeeded: 8,
        mirrorLaptopsNeeded: 7,
        moreLaptopsNeeded: 7,
      });
    });

    it("needs only the venue when it finishes within the target", () => {
      expect(planCapacity({ attendees: 90, bytesPerAttendee: 1_000_000_000, throughputBytesPerSecond: 50_000_000, targetMinutes: 30 })).to.deep.equal({
        totalBytes: 90_000_000_000,
        servingLaptops: 1,
        secondsToServeAll: 1_800,
        laptopsNeeded: 1,
        mirrorLaptopsNeeded: 0,
        moreLaptopsNeeded: 0,
      });
    });

    it("does not ask for an extra laptop over floating-point noise in an exact fit", () => {
      // 7 x 0.1 bytes at 0.1*7/1260 B/s is 1260.0000000000002 s: three 7-minute slots, not four.
      const plan = planCapacity({ attendees: 7, bytesPerAttendee: 0.1, throughputBytesPerSecond: (0.1 * 7) / (3 * 60 * 7), targetMinutes: 7 });
      expect(plan.secondsToServeAll).to.equal(1260.0000000000002);
      expect(plan.laptopsNeeded).to.equal(3);
      expect(plan.mirrorLaptopsNeeded).to.equal(2);
    });

    it("divides the time by the laptops serving now and asks only for the laptops still missing", () => {
      // 700 x 2 GB at 100 MB/s per laptop: 14,000 s alone, 7,000 s on 2 laptops; 30 min still needs 8 in all, so 6 more.
      expect(
        planCapacity({ attendees: 700, bytesPerAttendee: 2_000_000_000, throughputBytesPerSecond: 100_000_000, targetMinutes: 30, servingLaptops: 2 }),
      ).to.deep.equal({
        totalBytes: 1_400_000_000_000,
        servingLaptops: 2,
        secondsToServeAll: 7_000,
        laptopsNeeded: 8,
        mirrorLaptopsNeeded: 7,
        moreLaptopsNeeded: 6,
      });
      // 90 x 1 GB at 50 MB/s: 1,800 s alone, 900 s on 2 laptops; the venue alone meets 30 min, nothing to add.
      expect(
        planCapacity({ attendees: 90, bytesPerAttendee: 1_000_000_000, throughputBytesPerSecond: 50_000_000, targetMinutes: 30, servingLaptops: 2 }),
      ).to.deep.equal({
        totalBytes: 90_000_000_000,
        servingLaptops: 2,
        secondsToServeAll: 900,
        laptopsNeeded: 1,
        mirrorLaptopsNeeded: 0,
        moreLaptopsNeeded: 0,
      });
    });

    it("counts the venue as serving when the laptop count is blank, zero or fractional", () => {
      const base = { attendees: 10, bytesPerAttendee: 100, throughputBytesPerSecond: 10, targetMinutes: 1 };
      expect(planCapacity({ ...base, servingLaptops: Number("") }).servingLaptops).to.equal(1);
      expect(planCapacity({ ...base, servingLaptops: 0 }).secondsToServeAll).to.equal(100);
      expect(planCapacity({ ...base, servingLaptops: 2.7 })).to.include({ servingLaptops: 2, secondsToServeAll: 50, laptopsNeeded: 2, moreLaptopsNeeded: 0 });
    });

    it("plans nothing without throughput, and no laptops without a target", () => {
      expect(planCapacity({ attendees: 700, bytesPerAttendee: 1000, throughputBytesPerSecond: 0, targetMinutes: 30 })).to.deep.equal({
        totalBytes: 700_000,
        servingLaptops: 1,
        secondsToServeAll: null,
        laptopsNeeded: null,
        mirrorLaptopsNeeded: null,
        moreLaptopsNeeded: null,
      });
      expect(planCapacity({ attendees: 10, bytesPerAttendee: 1000, throughputBytesPerSecond: 100, targetMinutes: 0 })).to.deep.equal({
        totalBytes: 10_000,
        servingLaptops: 1,
        secondsToServeAll: 100,
        laptopsNeeded: null,
        mirrorLaptopsNeeded: null,
        moreLaptopsNeeded: null,
      });
    });

    it("reads what a person typed into the page: whole attendees, no negatives, blanks as zero", () => {
      expect(planCapacity({ attendees: 10.9, bytesPerAttendee: 100, throughputBytesPerSecond: 10, targetMinutes: 1 }).totalBytes).to.equal(1000);
      expect(planCapacity({ attendees: -5, bytesPerAttendee: 100, throughputBytesPerSecond: 10, targetMinutes: 1 }).totalBytes).to.equal(0);
      expect(planCapacity({ attendees: Number(""), bytesPerAttendee: 100, throughputBytesPerSecond: 10, targetMinutes: 1 })).to.deep.equal({
        totalBytes: 0,
        servingLaptops: 1,
        secondsToServeAll: 0,
        laptopsNeeded: 1,
        mirrorLaptopsNeeded: 0,
        moreLaptopsNeeded: 0,
      });
      expect(planCapacity({ attendees: 5, bytesPerAttendee: 100, throughputBytesPerSecond: Number.NaN, targetMinutes: 1 }).secondsToServeAll).to.equal(null);
    });
  });

  describe("platformMix", () => {
    const lockPlatforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

    it("uses the measured platform pulls", () => {
      expect(platformMix(lockPlatforms, { "linux/amd64": 3, "linux/arm64": 1 })).to.deep.equal({ "linux/amd64": 0.75, "linux/arm64": 0.25 });
    });

    it("ignores pulls of platforms the lock does not hold", () => {
      expect(platformMix(lockPlatforms, { "linux/arm64": 2, "windows/amd64": 6 })).to.deep.equal({ "linux/arm64": 1 });
    });

    it("assumes an even split of amd64 and arm64 laptops before any pull", () => {
      expect(platformMix(lockPlatforms, {})).to.deep.equal({ "linux/amd64": 0.5, "linux/arm64": 0.5 });
      expect(platformMix(["linux/amd64", "linux/s390x"])).to.deep.equal({ "linux/amd64": 1 });
    });

    it("falls back to all of the lock's platforms when it holds no laptop platform", () => {
      expect(platformMix(["linux/arm/v7", "linux/386"])).to.deep.equal({ "linux/arm/v7": 0.5, "linux/386": 0.5 });
      expect(platformMix([])).to.deep.equal({});
    });
  });

  describe("bytesPerAttendee", () => {
    it("weights each platform's total by its share", () => {
      expect(bytesPerAttendee({ "linux/amd64": 1000, "linux/arm64": 2000 }, { "linux/amd64": 0.75, "linux/arm64": 0.25 })).to.equal(1250);
    });

    it("renormalises over the platforms the lock has, rounding to whole bytes", () => {
      expect(bytesPerAttendee({ "linux/amd64": 1000, "linux/arm64": 2001 }, { "linux/amd64": 0.25, "linux/arm64": 0.25, "windows/amd64": 0.5 })).to.equal(1501);
    });

    it("takes the largest platform when the mix and the lock share nothing", () => {
      expect(bytesPerAttendee({ "linux/amd64": 1000, "linux/arm64": 3000 }, { "windows/amd64": 1 })).to.equal(3000);
      expect(bytesPerAttendee({}, {})).to.equal(0);
    });
  });
});

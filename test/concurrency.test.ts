import { expect } from "chai";
import { mapWithConcurrency } from "../lib/concurrency";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("bounded concurrency", () => {
  it("never runs more than the limit at once and keeps the results in order", async () => {
    let running = 0;
    let peak = 0;
    const results = await mapWithConcurrency([30, 5, 20, 1, 10, 2], 3, async (ms, index) => {
      running++;
      peak = Math.max(peak, running);
      await pause(ms);
      running--;
      return index * 10;
    });
    expect(results).to.deep.equal([0, 10, 20, 30, 40, 50]);
    expect(peak).to.equal(3);
  });

  it("stops starting work after the first failure, lets running work finish, then throws it", async () => {
    const started: number[] = [];
    let finished = 0;
    const error = await mapWithConcurrency([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error("layer 1 failed");
      await pause(20);
      finished++;
      return item;
    }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.equal("layer 1 failed");
    expect(started).to.deep.equal([0, 1]);
    expect(finished).to.equal(1);
  });

  it("refuses a limit below 1", async () => {
    const error = await mapWithConcurrency([1], 0, async (x) => x).catch((e: Error) => e);
    expect((error as Error).message).to.equal("concurrency must be a whole number of at least 1, not 0");
  });
});

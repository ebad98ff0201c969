import { expect } from "chai";
import { formatBytes } from "../lib/byte-size";

describe("byte size", () => {
  it("formats bytes in decimal units with three significant digits", () => {
    expect([0, 999, 1000, 1_234_567, 150_000_000, 999_600, 12_345_678_901, 2.5e15].map(formatBytes)).to.deep.equal([
      "0 B",
      "999 B",
      "1 kB",
      "1.23 MB",
      "150 MB",
      "1 MB",
      "12.3 GB",
      "2.5 PB",
    ]);
    expect(formatBytes(Number.NaN)).to.equal("–");
  });

  it("is self-contained, so the dashboard can send its source to the browser", () => {
    // The browser evaluates this text on its own: it must not reach for anything outside the function.
    const inBrowser = new Function(`return (${formatBytes.toString()})`)() as (bytes: number) => string;
    expect([512, 67_108_864, 1.5e9].map(inBrowser)).to.deep.equal(["512 B", "67.1 MB", "1.5 GB"]);
  });
});

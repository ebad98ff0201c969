import { expect } from "chai";
import * as path from "path";
import { guidePageFor, guideUrl } from "../lib/attendee-guides";
import { readGuides, renderGuidePage } from "../lib/guide-page";

describe("attendee guides", () => {
  it("picks the guide for the attendee's system", () => {
    expect((["darwin", "win32", "linux", "freebsd"] as NodeJS.Platform[]).map(guidePageFor)).to.deep.equal(["macos", "windows", "linux", "linux"]);
    expect(guideUrl("192.168.1.20:5000", "macos", "if-configure-fails")).to.equal("http://192.168.1.20:5000/guides/macos#if-configure-fails");
    expect(guideUrl("[fd00::1]:5000", "linux")).to.equal("http://[fd00::1]:5000/guides/linux");
  });

  it("points the CLI only at pages and sections the venue really serves", () => {
    const guides = readGuides(path.join(__dirname, "..", "docs", "attendee"));
    for (const platform of ["darwin", "win32", "linux"] as NodeJS.Platform[]) {
      const guide = guides.find((g) => g.name === guidePageFor(platform));
      expect(guide, platform).to.not.equal(undefined);
      // The CLI's stops link to #if-configure-fails: that heading must exist on every OS page.
      expect(renderGuidePage(guide!, guides, undefined), platform).to.contain('<h2 id="if-configure-fails">');
    }
  });
});

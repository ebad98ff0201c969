import { expect } from "chai";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { EXAMPLE_VENUE_ADDRESS, Guide, headingAnchor, readGuides, renderGuideIndex, renderGuidePage, servedLinkTarget } from "../lib/guide-page";
import { RunningMonitor, startMonitor } from "../lib/monitor";
import { makeTempDir } from "./support/services";

const ATTENDEE_DOCS = path.join(__dirname, "..", "docs", "attendee");

/** Every href and every id in a rendered page. */
function linksAndIds(html: string): { hrefs: string[]; ids: Set<string> } {
  return {
    hrefs: [...html.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1]),
    ids: new Set([...html.matchAll(/ id="([^"]*)"/g)].map((m) => m[1])),
  };
}

describe("guide page", () => {
  const guides = readGuides(ATTENDEE_DOCS);
  const named = (name: string): Guide => guides.find((g) => g.name === name)!;

  it("reads every attendee guide from docs/attendee, the quick start first", () => {
    const files = fs.readdirSync(ATTENDEE_DOCS).filter((f) => f.endsWith(".md")).length;
    expect(guides).to.have.length(files);
    expect(guides.map((g) => g.name)).to.deep.equal(["quick-start", "linux", "macos", "windows"]);
    expect(guides[0].title).to.equal("Workshop images in one command");
    expect(readGuides(path.join(makeTempDir("no-guides"), "missing"))).to.deep.equal([]);
  });

  it("makes heading anchors the way GitHub does, so the docs' own #links keep working", () => {
    expect(headingAnchor("If configure fails")).to.equal("if-configure-fails");
    expect(headingAnchor("macOS notes (Intel and Apple Silicon)")).to.equal("macos-notes-intel-and-apple-silicon");
    expect(headingAnchor("Facts measured with dockerd 20.10 (Debian's docker.io)")).to.equal("facts-measured-with-dockerd-2010-debians-dockerio");
    expect(headingAnchor("Step 1 of 3: `configure`")).to.equal("step-1-of-3-configure");
  });

  it("keeps links to other guides on the venue, and drops links to what the venue does not serve", () => {
    expect(servedLinkTarget("macos.md", guides)).to.equal("/guides/macos");
    expect(servedLinkTarget("./linux.md#if-configure-fails", guides)).to.equal("/guides/linux#if-configure-fails");
    expect(servedLinkTarget("#exit-codes", guides)).to.equal("#exit-codes");
    expect(servedLinkTarget("https://docs.docker.com/", guides)).to.equal("https://docs.docker.com/");
    expect(servedLinkTarget("../facilitator/troubleshooting.md", guides)).to.equal(undefined);
    expect(servedLinkTarget("../../lib/daemon-config.ts", guides)).to.equal(undefined);
    expect(servedLinkTarget("plan.md", guides)).to.equal(undefined);
  });

  it("writes the venue's own address into every command, where the docs show the example one", () => {
    for (const guide of guides) {
      const html = renderGuidePage(guide, guides, "10.9.8.7:5000");
      expect(html, guide.name).not.to.contain(EXAMPLE_VENUE_ADDRESS);
      if (guide.markdown.includes(EXAMPLE_VENUE_ADDRESS)) expect(html, guide.name).to.contain("10.9.8.7:5000");
    }
    const quickStart = renderGuidePage(named("quick-start"), guides, "10.9.8.7:5000");
    expect(quickStart).to.contain("npx -y http://10.9.8.7:5000/attendee/workshop-attendee.tgz undo");
    // Without a known address the example stays, rather than an empty hole.
    expect(renderGuidePage(named("quick-start"), guides, undefined)).to.contain(`npx -y http://${EXAMPLE_VENUE_ADDRESS}/attendee/workshop-attendee.tgz`);
  });

  it("leaves no dead link: every link between guides lands on a guide and a heading that exist", () => {
    const rendered = new Map(guides.map((g) => [g.name, linksAndIds(renderGuidePage(g, guides, "10.9.8.7:5000"))]));
    let checked = 0;
    for (const [name, page] of rendered) {
      for (const href of page.hrefs) {
        if (/^https?:/.test(href)) continue;
        const [target, anchor] = href.startsWith("#") ? [name, href.slice(1)] : href.replace(/^\/guides\//, "").split("#");
        expect(rendered.has(target), `${name} links to ${href}`).to.equal(true);
        if (anchor) expect(rendered.get(target)!.ids.has(anchor), `${name} links to ${href}`).to.equal(true);
        checked += 1;
      }
    }
    expect(checked).to.be.at.least(6);
    // The quick start's "If step 1 fails" points at each OS page's own section.
    expect(rendered.get("quick-start")!.hrefs).to.include.members(["/guides/macos#if-configure-fails", "/guides/windows#if-configure-fails", "/guides/linux#if-configure-fails"]);
  });

  it("lists the guides on the index page, and says so when none are installed", () => {
    const index = renderGuideIndex(guides);
    for (const guide of guides) expect(index).to.contain(`<a href="/guides/${guide.name}">`);
    expect(renderGuideIndex([])).to.contain("No guides are installed on this venue. Ask the facilitator.");
  });

  describe("served by the monitor", () => {
    let monitor: RunningMonitor;
    before(async () => {
      const dir = makeTempDir("guides-monitor");
      monitor = await startMonitor({
        listen: "127.0.0.1:0",
        lockFile: path.join(dir, "venue-lock.json"),
        accessLogFile: path.join(dir, "access.json"),
        replicaUrls: [],
        lanAddresses: ["10.9.8.7:5000", "172.16.4.4:5000"],
        refreshIntervalMs: 60_000,
      });
    });
    after(async () => monitor?.close());

    it("serves each guide with this venue's address, the index, and a clear 404 for the rest", async () => {
      const macos = await fetch(`${monitor.url}/guides/macos`);
      expect(macos.status).to.equal(200);
      expect(macos.headers.get("content-type")).to.equal("text/html; charset=utf-8");
      const html = await macos.text();
      expect(html).to.contain('<h2 id="if-configure-fails">If configure fails</h2>').and.contain("10.9.8.7:5000");
      expect(html).to.contain('<li aria-current="page">macOS notes (Intel and Apple Silicon)</li>');

      // Someone on the laptop's other network reads the address that works from there.
      const other = await new Promise<string>((resolve, reject) => {
        const url = new URL(`${monitor.url}/guides/linux`);
        http
          .get({ host: url.hostname, port: url.port, path: url.pathname, headers: { Host: "172.16.4.4:5000" } }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => resolve(body));
          })
          .on("error", reject);
      });
      expect(other).to.contain("172.16.4.4:5000").and.not.contain("10.9.8.7:5000");
      // Any other Host (127.0.0.1 on the laptop itself) gets the first address.
      expect(await (await fetch(`${monitor.url}/guides/linux`)).text()).to.contain("10.9.8.7:5000").and.not.contain("172.16.4.4:5000");

      for (const index of ["/guides", "/guides/"]) {
        const response = await fetch(`${monitor.url}${index}`);
        expect([response.status, await response.text()], index).to.satisfy(([status, body]: [number, string]) => status === 200 && body.includes('<a href="/guides/quick-start">'));
      }
      // Only guide names are served: nothing else from the project folder the monitor runs in.
      const escaping = await fetch(`${monitor.url}/guides/..%2F..%2Fpackage.json`);
      expect(escaping.status).to.equal(404);
      const unknown = await fetch(`${monitor.url}/guides/plan`);
      expect([unknown.status, await unknown.text()]).to.deep.equal([
        404,
        "Nothing at /guides/plan. The dashboard is at /, the slides at /slides (one at a time: /slides/1 to /slides/3), the attendee guides at /guides/.\n",
      ]);
    });
  });
});

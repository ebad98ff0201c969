import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { BrowserContext, chromium, Page } from "playwright-core";
import { planCapacity } from "../lib/capacity-planner";
import { formatBytes } from "../lib/byte-size";
import { ATTENDEE_FIXES, formatDuration, renderDashboardPage, renderSlidesPage } from "../lib/dashboard-page";
import { escapeHtml } from "../lib/html-page";
import type { MonitorStatus } from "../lib/monitor";
import { MonitoredVenue, pullOverHttp, startMonitoredVenue } from "./support/monitored-venue";
import { makeTempDir, requireProgram, waitFor } from "./support/services";

const ARTIFACTS = path.join(__dirname, "..", "test-artifacts");

// Browser globals used inside page.$eval callbacks, which run in Chromium (the project compiles without the DOM lib).
declare const getComputedStyle: (element: unknown) => { fontSize: string; backgroundColor: string };

describe("dashboard page", () => {
  it("formats durations rounded up, never promising less than the plan needs", () => {
    expect([0, 45, 59.2, 125, 3600, 3661, 7199, 14_000].map(formatDuration)).to.deep.equal([
      "0 s",
      "45 s",
      "1 min",
      "2 min 5 s",
      "1 h",
      "1 h 2 min",
      "2 h",
      "3 h 54 min",
    ]);
  });

  it("escapes what it shows, so an image name cannot inject markup", () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&`)).to.equal("&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;");
    const status = minimalStatus();
    status.title = "<script>alert(1)</script>";
    status.images.list[0].target = "evil</script><b>";
    const html = renderDashboardPage(status);
    expect(html).not.to.contain("<script>alert(1)</script>");
    expect(html).not.to.contain("evil</script>");
    expect(html).to.contain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The embedded JSON cannot close its script element either.
    expect(html).to.contain("evil\\u003c/script\\u003e\\u003cb\\u003e");
  });

  it("puts the address, the commands and the three fixes on the slide, printable", () => {
    const html = renderSlidesPage(minimalStatus());
    expect(html).to.contain('<div class="slide-url" data-field="slide-url">http://192.168.1.20:5000</div>');
    expect(html).to.contain("npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz");
    expect(html.match(/<li><span class="symptom">/g)?.length).to.equal(3);
    expect(ATTENDEE_FIXES.map((f) => f.symptom)).to.deep.equal([
      "“server gave HTTP response to HTTPS client”",
      "“Cannot connect to the Docker daemon” / “Is the docker daemon running?”",
      "“This needs administrator rights”",
    ]);
  });
});

function minimalStatus(): MonitorStatus {
  return {
    generatedAt: "2025-05-20T09:00:00.000Z",
    title: "Workshop",
    venue: {
      addresses: [{ address: "192.168.1.20:5000", url: "http://192.168.1.20:5000", commands: ["npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz"] }],
      lockUrl: "http://192.168.1.20:5000/attendee/venue-lock.json",
    },
    images: {
      expected: 1,
      available: 1,
      missing: [],
      checkedAt: null,
      list: [{ target: "workshop/app:1", repository: "workshop/app", tag: "1", indexDigest: `sha256:${"a".repeat(64)}`, available: true, pulls: 3 }],
      otherPulls: {},
    },
    downloads: { active: 0, connections: null, problem: null },
    clients: { distinct: 0, recent: 0, recentWindowMinutes: 5 },
    traffic: { requests: 0, bytesServed: 0, blobBytesServed: 0, throughputBytesPerSecond: 0, peakThroughputBytesPerSecond: 0, windowSeconds: 15, serverErrors: 0, lastRequestAt: null },
    health: { frontDoor: null, replicas: [] },
    mirrors: [],
    capacity: {
      expectedAttendees: 700,
      targetMinutes: 30,
      bytesPerPlatform: { "linux/amd64": 1000 },
      platformMix: { "linux/amd64": 1 },
      mixMeasured: false,
      pullsByPlatform: {},
      bytesPerAttendee: 1000,
      throughputBytesPerSecond: 0,
      servingLaptops: 1,
      plan: planCapacity({ attendees: 700, bytesPerAttendee: 1000, throughputBytesPerSecond: 0, targetMinutes: 30 }),
    },
    lock: { file: "/x/venue-lock.json", loaded: true, generatedAt: "2025-05-19T18:30:00.000Z", problem: null },
    accessLog: { file: "/x/access.json", state: "following", problem: null, unparsableLines: 0, rotations: 0, truncations: 0 },
    problems: [],
  };
}

describe("dashboard page in headless Chromium @system", function () {
  this.timeout(120_000);
  let venue: MonitoredVenue;
  /** A second venue standing in for a mirror laptop. */
  let mirror: MonitoredVenue;
  let browser: BrowserContext;
  let page: Page;
  let expectedBytes: number;

  before(async () => {
    const executablePath = requireProgram("chromium", "chromium");
    mirror = await startMonitoredVenue();
    venue = await startMonitoredVenue({ mirrors: [mirror.frontDoorHost] });
    const [, tools, app] = venue.images;
    expectedBytes =
      (await pullOverHttp(venue.frontDoorUrl, "127.0.0.2", tools, "linux/arm64")) +
      (await pullOverHttp(venue.frontDoorUrl, "127.0.0.3", app, "linux/amd64")) +
      (await pullOverHttp(venue.frontDoorUrl, "127.0.0.3", tools, "linux/amd64"));
    await waitFor("the monitor to count the pulls", async () => (await venue.monitor.refresh()).traffic.bytesServed === expectedBytes, 10_000, 150);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launchPersistentContext(makeTempDir("chromium-profile"), {
      executablePath,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await venue?.monitor.close();
    await mirror?.monitor.close();
  });

  const value = (selector: string): Promise<string | null> => page.getAttribute(selector, "data-value");
  const text = async (selector: string): Promise<string> => ((await page.textContent(selector)) ?? "").trim();
  const waitForDetail = (selector: string, expected: string) =>
    page.waitForFunction(
      // The test compiles without the DOM library, so the page's document is typed by hand.
      ([selector, expected]) =>
        (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document
          .querySelector(selector)?.textContent?.trim() === expected,
      [selector, expected] as const,
      { timeout: 10_000 },
    );
  /** Prints the current page as the browser would (A4 landscape, the page's own print styles) and counts the sheets. */
  const printedPages = async (): Promise<number> => {
    const pdf = (await page.pdf({ preferCSSPageSize: true, printBackground: false })).toString("latin1");
    return [...pdf.matchAll(/\/Type\s*\/Page(?![s\w])/g)].length;
  };

  it("shows the measured figures, the same as /api/status, live through the front door", async () => {
    await page.goto(`${venue.frontDoorUrl}/`);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    // Active downloads is a live sample of the front door's connections: the page's own asset
    // requests, or this test's /api/status fetch, can be in it for a refresh. So the figures are read
    // in one go, from an update that shows the front door idle.
    const figures = (await (
      await page.waitForFunction(
        () => {
          const fields = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ getAttribute(n: string): string | null }> } }).document
            .querySelectorAll("[data-field]");
          const read = Object.fromEntries([...fields].map((el) => [el.getAttribute("data-field"), el.getAttribute("data-value")]));
          return read["active-downloads"] === "0" ? read : null;
        },
        undefined,
        { timeout: 5_000 },
      )
    ).jsonValue()) as Record<string, string | null>;
    let api!: MonitorStatus;
    await waitFor(
      "/api/status through the front door to show it idle",
      async () => {
        api = (await (await fetch(`${venue.frontDoorUrl}/api/status`)).json()) as MonitorStatus;
        return api.downloads.active === 0;
      },
      5_000,
      150,
    );

    expect(figures["images-available-count"]).to.equal("3");
    expect(figures["images-expected"]).to.equal("4");
    expect(figures["active-downloads"]).to.equal("0");
    expect(figures["distinct-clients"]).to.equal("2");
    expect(figures["recent-clients"]).to.equal("2");
    expect(figures["bytes-served"]).to.equal(String(expectedBytes));
    expect(await text('[data-field="bytes-served"]')).to.equal(formatBytes(expectedBytes));
    const rows = await page.$$eval("tr[data-image]", (trs) =>
      trs.map((tr) => [tr.getAttribute("data-image"), tr.querySelector(".available")!.getAttribute("data-available"), tr.querySelector(".pulls")!.textContent]),
    );
    expect(rows).to.deep.equal([
      ["library/hello:1.0", "true", "0"],
      ["library/tools:2-alpine", "true", "2"],
      ["team/app:latest", "true", "1"],
      ["workshop/missing:1", "false", "0"],
    ]);
    // The page and the API agree.
    expect(rows.map((r) => [r[0], r[1] === "true", Number(r[2])])).to.deep.equal(api.images.list.map((i) => [i.target, i.available, i.pulls]));
    expect(Number(figures["distinct-clients"])).to.equal(api.clients.distinct);
    expect(Number(figures["bytes-served"])).to.equal(api.traffic.bytesServed);
    expect(Number(figures["images-available-count"])).to.equal(api.images.available);
    expect(Number(figures["active-downloads"])).to.equal(api.downloads.active);

    const health = await page.$$eval("[data-health]", (items) => items.map((li) => [li.getAttribute("data-health"), li.getAttribute("data-healthy")]));
    expect(health).to.deep.equal([
      ["front-door", "true"],
      ["replica-1", "true"],
      ["replica-2", "true"],
    ]);
    const commands = await page.$$eval(".address", (blocks) =>
      blocks.map((b) => [b.querySelector(".url")!.textContent, [...b.querySelectorAll(".command")].map((c) => c.textContent)]),
    );
    expect(commands).to.deep.equal([
      ["http://192.168.1.20:5000", ["npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz"]],
      ["http://10.20.0.5:5000", ["npx -y http://10.20.0.5:5000/attendee/workshop-attendee.tgz"]],
    ]);
    expect(await text(".problems-box h2")).to.equal("1 thing needs you");
    expect(await text(".problems .what")).to.equal("1 of 4 images are not in the registry: workshop/missing:1. Attendees get those from Docker Hub.");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });
  });

  it("re-plans capacity in the page when the facilitator edits the numbers", async () => {
    const capacity = venue.monitor.status().capacity;
    // Measured: amd64 twice (app, tools), arm64 once (tools).
    expect(capacity.platformMix).to.deep.equal({ "linux/amd64": 2 / 3, "linux/arm64": 1 / 3 });
    await page.fill("#plan-attendees", "250");
    await page.fill("#plan-target", "10");
    await page.fill("#plan-throughput", "0.2");
    // This laptop and the mirror laptop serve.
    expect(capacity.servingLaptops).to.equal(2);
    expect(await page.inputValue("#plan-laptops")).to.equal("2");
    const plan = planCapacity({ attendees: 250, bytesPerAttendee: capacity.bytesPerAttendee, throughputBytesPerSecond: 200_000, targetMinutes: 10, servingLaptops: 2 });
    expect(plan.laptopsNeeded).to.be.greaterThan(2);
    expect(await text('[data-plan="bytes-per-attendee"]')).to.equal(formatBytes(capacity.bytesPerAttendee));
    expect(await text('[data-plan="total-bytes"]')).to.equal(formatBytes(plan.totalBytes));
    expect(await text('[data-plan="time"]')).to.equal(formatDuration(plan.secondsToServeAll!));
    expect(await text('[data-plan="laptops"]')).to.equal(String(plan.laptopsNeeded));
    expect(await text('[data-plan="mirrors"]')).to.equal(`${plan.mirrorLaptopsNeeded} mirror laptop(s) besides this one`);
    expect(await text('[data-plan="more"]')).to.equal(`add ${plan.laptopsNeeded! - 2} to the 2 serving now`);
    // Typing a serving-laptop count re-plans with it: the time divides, the laptops needed stay.
    await page.fill("#plan-laptops", String(plan.laptopsNeeded));
    const enough = planCapacity({ attendees: 250, bytesPerAttendee: capacity.bytesPerAttendee, throughputBytesPerSecond: 200_000, targetMinutes: 10, servingLaptops: plan.laptopsNeeded! });
    expect(await text('[data-plan="time"]')).to.equal(formatDuration(enough.secondsToServeAll!));
    expect(await text('[data-plan="laptops"]')).to.equal(String(plan.laptopsNeeded));
    expect(await text('[data-plan="more"]')).to.equal(`enough: ${plan.laptopsNeeded} serving now`);
    // Cleared, it follows the measured count again.
    await page.fill("#plan-laptops", "");
    await page.$eval("#plan-laptops", (input) => (input as unknown as { blur(): void }).blur());
    // Live updates keep coming and do not overwrite what was typed.
    await page.waitForTimeout(800);
    expect(await page.inputValue("#plan-throughput")).to.equal("0.2");
    expect(await page.inputValue("#plan-laptops")).to.equal("2");
    expect(await text('[data-plan="laptops"]')).to.equal(String(plan.laptopsNeeded));
    expect(await text('[data-plan="more"]')).to.equal(`add ${plan.laptopsNeeded! - 2} to the 2 serving now`);
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-planner.png"), fullPage: true });
  });

  it("turns a stopped replica red without a reload", async () => {
    await venue.replicas[1].stop();
    // A poll in flight while the replica shuts down can read "connection reset" first; the steady answer is "refused".
    await waitForDetail('[data-health="replica-2"][data-healthy="false"] .detail', "connection refused (nothing listening there)");
    expect(await text('[data-health="replica-2"] .state')).to.equal("DOWN");
    expect(await text('[data-health="replica-2"] .detail')).to.equal("connection refused (nothing listening there)");
    expect(await text(".problems-box h2")).to.equal("2 things need you");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-replica-down.png"), fullPage: true });
  });

  it("shows each mirror laptop's health and throughput, and turns a stopped one red without a reload", async () => {
    const mirrorRows = () =>
      page.$$eval("[data-mirror]", (items) =>
        items.map((li) => [li.getAttribute("data-mirror"), li.getAttribute("data-healthy"), li.querySelector(".state")!.textContent, li.querySelector(".detail")!.textContent]),
      );
    expect(await mirrorRows()).to.deep.equal([[mirror.frontDoorHost, "true", "healthy", "0 B/s · 0 downloads"]]);
    expect(await value('[data-field="serving-laptops"]')).to.equal("2");
    expect(await text('[data-field="serving-laptops"]')).to.equal("2 laptops serving: this one and 1 of 1 mirror");

    await mirror.nginx.stop();
    await waitForDetail(`[data-mirror="${mirror.frontDoorHost}"][data-healthy="false"] .detail`, "connection refused (nothing listening there)");
    expect(await mirrorRows()).to.deep.equal([[mirror.frontDoorHost, "false", "DOWN", "connection refused (nothing listening there)"]]);
    expect(await text('[data-field="serving-laptops"]')).to.equal("1 laptop serving: this one and 0 of 1 mirror");
    expect(await page.inputValue("#plan-laptops")).to.equal("1");
    expect(await page.$$eval(".problems .what", (items) => items.map((li) => li.textContent))).to.include(
      `Mirror laptop ${mirror.frontDoorHost} is not answering: connection refused (nothing listening there). Its attendees fail over to the other serving laptops, so they are slower.`,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-mirror-down.png"), fullPage: true });
  });

  it("shows the slide with the address, the command and the three fixes, on screen and in print", async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${venue.frontDoorUrl}/slides`);
    expect(await text('[data-field="slide-url"]')).to.equal("http://192.168.1.20:5000");
    expect(await page.$$eval('[data-field="slide-command"]', (els) => els.map((e) => e.textContent))).to.deep.equal([
      "npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz",
    ]);
    expect(await page.$$eval(".fixes .symptom", (els) => els.map((e) => e.textContent))).to.deep.equal(ATTENDEE_FIXES.map((f) => f.symptom));
    expect(await page.$$eval(".slide-other strong", (els) => els.map((e) => e.textContent))).to.deep.equal(["http://10.20.0.5:5000"]);
    // Readable from the back: the address is drawn large, on one line, and the whole slide fits the screen.
    const url = await page.$eval('[data-field="slide-url"]', (e) => ({ font: parseFloat(getComputedStyle(e).fontSize), height: e.getBoundingClientRect().height }));
    expect(url.font).to.be.at.least(64);
    expect(url.height).to.be.below(url.font * 1.5);
    expect(await page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")).to.equal(true);
    await page.screenshot({ path: path.join(ARTIFACTS, "slides.png") });
    await page.emulateMedia({ media: "print" });
    const commandBackground = await page.$eval('[data-field="slide-command"]', (e) => getComputedStyle(e).backgroundColor);
    expect(commandBackground).to.equal("rgba(0, 0, 0, 0)");
    await page.screenshot({ path: path.join(ARTIFACTS, "slides-print.png") });
    await page.emulateMedia({ media: "screen" });
    expect(await printedPages()).to.equal(1);
  });

  it("shows one slide per screen at /slides/1 to /slides/3, follows a presenter's keys, and prints each on one page", async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${venue.frontDoorUrl}/slides/1`);
    expect(await text('[data-field="slide-url"]')).to.equal("http://192.168.1.20:5000");
    expect(await page.$$eval(".slide-other strong", (els) => els.map((e) => e.textContent))).to.deep.equal(["http://10.20.0.5:5000"]);
    const url = await page.$eval('[data-field="slide-url"]', (e) => parseFloat(getComputedStyle(e).fontSize));
    expect(url).to.be.at.least(90);

    await page.goto(`${venue.frontDoorUrl}/slides/2`);
    expect(await page.$$eval('[data-field="slide-command"]', (els) => els.map((e) => e.textContent))).to.deep.equal([
      "npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz",
    ]);
    expect(await text('[data-field="slide-undo"]')).to.equal("npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz undo");

    await page.goto(`${venue.frontDoorUrl}/slides/3`);
    expect(await page.$$eval(".fixes .symptom", (els) => els.map((e) => e.textContent))).to.deep.equal(ATTENDEE_FIXES.map((f) => f.symptom));
    expect(await page.getAttribute('[data-field="slide-guides"]', "href")).to.equal("http://192.168.1.20:5000/guides/");

    for (const n of [1, 2, 3]) {
      await page.goto(`${venue.frontDoorUrl}/slides/${n}`);
      expect(await page.evaluate("document.documentElement.scrollHeight <= window.innerHeight"), `slide ${n} fits the screen`).to.equal(true);
      await page.screenshot({ path: path.join(ARTIFACTS, `slide-${n}.png`) });
      expect(await printedPages(), `slide ${n} printed`).to.equal(1);
    }

    // A clicker sends Page Down / Page Up; keyboards use the arrows and Space. The last slide stays put.
    await page.goto(`${venue.frontDoorUrl}/slides`);
    const steps: Array<[string, string]> = [
      ["PageDown", "/slides/1"],
      ["ArrowRight", "/slides/2"],
      ["Space", "/slides/3"],
      ["PageDown", "/slides/3"],
      ["PageUp", "/slides/2"],
      ["ArrowLeft", "/slides/1"],
      ["ArrowLeft", "/slides"],
    ];
    for (const [key, expected] of steps) {
      const before = page.url();
      await page.keyboard.press(key);
      if (new URL(before).pathname !== expected) await page.waitForURL((u) => u.pathname === expected, { timeout: 5_000 });
      else await new Promise((r) => setTimeout(r, 300));
      expect(new URL(page.url()).pathname, `after ${key}`).to.equal(expected);
    }
  });

  it("links the dashboard to the slides and to the attendee guides, which open with the venue's address", async () => {
    await page.goto(`${venue.frontDoorUrl}/`);
    const links = await page.$$eval('[data-section="join"] h2 a', (els) => els.map((e) => [e.textContent, e.getAttribute("href")]));
    expect(links).to.deep.equal([
      ["projector slides", "/slides"],
      ["attendee guides", "/guides/"],
    ]);
    await page.click('[data-section="join"] h2 a[href="/guides/"]');
    await page.waitForURL((u) => u.pathname === "/guides/");
    await page.click('a[href="/guides/macos"]');
    await page.waitForURL((u) => u.pathname === "/guides/macos");
    expect(await text("h1")).to.equal("macOS notes (Intel and Apple Silicon)");
    expect(await page.$eval(".guide-body", (e) => e.textContent ?? "")).to.contain("192.168.1.20:5000");
    await page.screenshot({ path: path.join(ARTIFACTS, "guide-macos.png"), fullPage: true });
  });
});

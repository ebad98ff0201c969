/**
 * The dashboard page and the projector slide: plain HTML rendered on the server, one stylesheet and
 * one small script. The page is complete without the script; the script follows /events and swaps in
 * sections the server renders, so there is one renderer, and re-runs the capacity planner when the
 * facilitator edits its numbers. Sized for a projector at the back of a hall, printable.
 */
import { formatBytes } from "./byte-size";
import { planCapacity } from "./capacity-planner";
import { GUIDES_URL_PATH } from "./attendee-guides";
import { escapeHtml, htmlPage } from "./html-page";
import type { EndpointHealth, MirrorStatus, MonitorStatus, VenueAddress } from "./monitor";

// ---- Units, shared by the server, the browser (source embedded) and the terminal monitor. ----------
// These must stay self-contained: the browser receives their source text (bytes: lib/byte-size.ts).

/** Rounded up to the second: a plan should not promise less time than it needs. */
export function formatDuration(seconds: number): string {
  if (!(seconds >= 0) || !Number.isFinite(seconds)) return "–";
  const total = Math.ceil(seconds);
  if (total < 60) return `${total} s`;
  if (total < 3600) {
    const rest = total % 60;
    return `${Math.floor(total / 60)} min${rest ? ` ${rest} s` : ""}`;
  }
  const minutes = Math.ceil((total % 3600) / 60);
  const hours = Math.floor(total / 3600) + (minutes === 60 ? 1 : 0);
  const shownMinutes = minutes === 60 ? 0 : minutes;
  return `${hours} h${shownMinutes ? ` ${shownMinutes} min` : ""}`;
}

export function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** The planner's "what to add" line, from a CapacityPlan; empty without a target or throughput. */
export function describeMoreLaptops(plan: { moreLaptopsNeeded: number | null; servingLaptops: number }): string {
  if (plan.moreLaptopsNeeded === null) return "";
  const serving = `${plan.servingLaptops} serving now`;
  return plan.moreLaptopsNeeded === 0 ? `enough: ${serving}` : `add ${plan.moreLaptopsNeeded} to the ${serving}`;
}

// ---- HTML ---------------------------------------------------------------------------------------

/** JSON inside a <script> element: "</script>" and friends must not end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

function tile(field: string, label: string, value: string, raw: number | string | null, detail: string, tone = ""): string {
  const rawAttribute = raw === null ? "" : ` data-value="${escapeHtml(raw)}"`;
  return `<div class="tile ${tone}">
  <div class="tile-label">${label}</div>
  <div class="tile-value" data-field="${field}"${rawAttribute}>${value}</div>
  <div class="tile-detail">${detail}</div>
</div>`;
}

function imagesTone(status: MonitorStatus): string {
  if (status.images.expected === 0) return "warn";
  if (status.images.missing.length > 0) return "bad";
  return status.images.available === status.images.expected ? "good" : "warn";
}

function renderSummary(status: MonitorStatus): string {
  const { images, downloads, clients, traffic } = status;
  const checked = images.checkedAt ? `checked ${timeOfDay(images.checkedAt)}` : "not checked yet";
  return [
    tile(
      "images-available",
      "Images in the registry",
      `<span data-field="images-available-count" data-value="${images.available}">${images.available}</span><span class="of"> / <span data-field="images-expected" data-value="${images.expected}">${images.expected}</span></span>`,
      null,
      images.missing.length > 0 ? `${images.missing.length} missing · ${checked}` : checked,
      imagesTone(status),
    ),
    tile(
      "active-downloads",
      "Downloads running",
      downloads.active === null ? "?" : formatCount(downloads.active),
      downloads.active === null ? "" : downloads.active,
      downloads.active === null ? "unknown: nginx status not readable" : "requests in flight now",
      downloads.active === null ? "warn" : "",
    ),
    tile(
      "distinct-clients",
      "Attendee machines",
      formatCount(clients.distinct),
      clients.distinct,
      `<span data-field="recent-clients" data-value="${clients.recent}">${formatCount(clients.recent)}</span> in the last ${clients.recentWindowMinutes} min`,
    ),
    tile(
      "bytes-served",
      "Served",
      formatBytes(traffic.bytesServed),
      traffic.bytesServed,
      `<span data-field="throughput" data-value="${traffic.throughputBytesPerSecond}">${formatBytes(traffic.throughputBytesPerSecond)}/s</span> now · peak ${formatBytes(traffic.peakThroughputBytesPerSecond)}/s`,
    ),
  ].join("\n");
}

/** Escaped text in which `backticked` commands are shown as code. */
function withCode(text: string): string {
  return escapeHtml(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

function renderProblems(status: MonitorStatus): string {
  if (status.problems.length === 0) {
    return `<p class="all-good" data-field="problem-count" data-value="0">All good: nothing needs you right now.</p>`;
  }
  const items = status.problems
    .map((p) => `<li><span class="what">${withCode(p.what)}</span> <span class="action">${withCode(p.action)}</span></li>`)
    .join("\n");
  return `<h2 data-field="problem-count" data-value="${status.problems.length}">${status.problems.length === 1 ? "1 thing needs you" : `${status.problems.length} things need you`}</h2>
<ul class="problems">${items}</ul>`;
}

function healthRow(endpoint: EndpointHealth, key: string): string {
  const detail = endpoint.healthy ? `answers in ${endpoint.latencyMs} ms` : (endpoint.problem ?? "not answering");
  return `<li class="${endpoint.healthy ? "good" : "bad"}" data-health="${escapeHtml(key)}" data-healthy="${endpoint.healthy}">
  <span class="dot" aria-hidden="true"></span><span class="name">${escapeHtml(endpoint.name)}</span>
  <span class="state">${endpoint.healthy ? "healthy" : "DOWN"}</span>
  <span class="detail">${escapeHtml(detail)}</span></li>`;
}

function renderHealth(status: MonitorStatus): string {
  const rows: string[] = [];
  if (status.health.frontDoor) rows.push(healthRow(status.health.frontDoor, "front-door"));
  status.health.replicas.forEach((replica, i) => rows.push(healthRow(replica, `replica-${i + 1}`)));
  if (rows.length === 0) return `<h2>Health</h2><p class="muted">Not measured yet.</p>`;
  return `<h2>Health</h2><ul class="health">${rows.join("\n")}</ul>`;
}

function mirrorRow(mirror: MirrorStatus): string {
  const throughput = mirror.throughputBytesPerSecond;
  const figures =
    throughput === null
      ? `<span data-field="mirror-throughput">figures unknown</span>`
      : `<span data-field="mirror-throughput" data-value="${throughput}">${formatBytes(throughput)}/s</span> · ` +
        `<span data-field="mirror-downloads" data-value="${mirror.activeDownloads ?? ""}">${mirror.activeDownloads === null ? "?" : formatCount(mirror.activeDownloads)}</span> downloads`;
  const detail = mirror.healthy ? `${figures}${mirror.problem ? ` · ${escapeHtml(mirror.problem)}` : ""}` : escapeHtml(mirror.problem ?? "not answering");
  return `<li class="${mirror.healthy ? "good" : "bad"}" data-mirror="${escapeHtml(mirror.address)}" data-healthy="${mirror.healthy}">
  <span class="dot" aria-hidden="true"></span><span class="name">${escapeHtml(mirror.address)}</span>
  <span class="state">${mirror.healthy ? "healthy" : "DOWN"}</span>
  <span class="detail">${detail}</span></li>`;
}

function renderMirrors(status: MonitorStatus): string {
  const serving = status.capacity.servingLaptops;
  if (status.mirrors.length === 0) {
    return `<h2>Mirror laptops</h2><p class="muted" data-field="serving-laptops" data-value="${serving}">None: this laptop serves alone. Each mirror laptop on its own cable adds about as much again.</p>`;
  }
  const healthy = serving - 1;
  return `<h2>Mirror laptops</h2>
<p class="muted" data-field="serving-laptops" data-value="${serving}">${serving} laptop${serving === 1 ? "" : "s"} serving: this one and ${healthy} of ${status.mirrors.length} mirror${status.mirrors.length === 1 ? "" : "s"}</p>
<ul class="health mirrors">${status.mirrors.map(mirrorRow).join("\n")}</ul>`;
}

function renderJoin(status: MonitorStatus): string {
  if (status.venue.addresses.length === 0) {
    return `<h2>How attendees join</h2><p class="muted">No LAN address known yet.</p>`;
  }
  const blocks = status.venue.addresses
    .map(
      (a) => `<div class="address" data-address="${escapeHtml(a.address)}">
  <div class="url">${escapeHtml(a.url)}</div>
  ${a.commands.map((c) => `<pre class="command">${escapeHtml(c)}</pre>`).join("\n  ")}
</div>`,
    )
    .join("\n");
  return `<h2>How attendees join <a class="slide-link" href="/slides">projector slides</a> <a class="slide-link" href="${GUIDES_URL_PATH}">attendee guides</a></h2>${blocks}
<p class="muted small">Hands up? The attendee guides are served here for reading without internet; for the venue itself, see docs/facilitator/troubleshooting.md in the project folder.</p>`;
}

function renderImages(status: MonitorStatus): string {
  if (status.images.list.length === 0) {
    return `<h2>Images</h2><p class="muted">${escapeHtml(status.lock.problem ?? "The lock file lists no images.")}</p>`;
  }
  const rows = status.images.list
    .map((image) => {
      const state = image.available === true ? "there" : image.available === false ? "MISSING" : "unknown";
      const tone = image.available === true ? "good" : image.available === false ? "bad" : "warn";
      return `<tr data-image="${escapeHtml(image.target)}" class="${tone}">
  <td class="target">${escapeHtml(image.target)}</td>
  <td class="available" data-available="${image.available}"><span class="dot" aria-hidden="true"></span>${state}</td>
  <td class="pulls num" data-value="${image.pulls}">${formatCount(image.pulls)}</td></tr>`;
    })
    .join("\n");
  return `<h2>Images</h2>
<table class="images"><thead><tr><th>image</th><th>in registry</th><th class="num">pulls</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function renderFooter(status: MonitorStatus): string {
  const log = status.accessLog;
  return `Updated <span data-field="generated-at">${escapeHtml(timeOfDay(status.generatedAt))}</span> ·
${formatCount(status.traffic.requests)} requests logged · ${formatCount(status.traffic.serverErrors)} server errors ·
access log ${escapeHtml(log.state)}${log.unparsableLines ? ` (${formatCount(log.unparsableLines)} lines not understood)` : ""} ·
lock ${status.lock.generatedAt ? `of ${escapeHtml(timeOfDay(status.lock.generatedAt))}` : "not loaded"}`;
}

function timeOfDay(iso: string): string {
  return iso.slice(11, 19) + " UTC";
}

/** Sections the browser swaps in on every update, keyed by their data-section name. */
export function renderDashboardSections(status: MonitorStatus): Record<string, string> {
  return {
    summary: renderSummary(status),
    problems: renderProblems(status),
    health: renderHealth(status),
    mirrors: renderMirrors(status),
    join: renderJoin(status),
    images: renderImages(status),
    footer: renderFooter(status),
  };
}

function renderPlanner(status: MonitorStatus): string {
  const capacity = status.capacity;
  const mix = Object.entries(capacity.platformMix)
    .map(([platform, share]) => `${escapeHtml(platform)} ${Math.round(share * 100)}%`)
    .join(", ");
  const throughputMb = capacity.throughputBytesPerSecond > 0 ? (capacity.throughputBytesPerSecond / 1e6).toFixed(1) : "";
  return `<h2>Capacity planner</h2>
<div class="planner-inputs">
  <label>Attendees <input type="number" min="0" step="1" id="plan-attendees" value="${capacity.expectedAttendees}"></label>
  <label>Target (minutes) <input type="number" min="1" step="1" id="plan-target" value="${capacity.targetMinutes}"></label>
  <label>Per laptop (MB/s) <input type="number" min="0" step="0.1" id="plan-throughput" value="${throughputMb}" placeholder="no downloads yet"></label>
  <label>Serving laptops <input type="number" min="1" step="1" id="plan-laptops" value="${capacity.servingLaptops}"></label>
</div>
<dl class="planner-results">
  <div><dt>Per attendee</dt><dd data-plan="bytes-per-attendee">${formatBytes(capacity.bytesPerAttendee)}</dd>
    <dd class="muted" data-plan="mix">${mix ? `${capacity.mixMeasured ? "measured" : "assumed"} mix: ${mix}` : "no lock file yet"}</dd></div>
  <div><dt>Everyone</dt><dd data-plan="total-bytes">${formatBytes(capacity.plan.totalBytes)}</dd></div>
  <div><dt>Time to serve all</dt><dd data-plan="time">${capacity.plan.secondsToServeAll === null ? "–" : formatDuration(capacity.plan.secondsToServeAll)}</dd></div>
  <div><dt>Laptops for the target</dt><dd data-plan="laptops">${capacity.plan.laptopsNeeded ?? "–"}</dd>
    <dd class="muted" data-plan="mirrors">${capacity.plan.mirrorLaptopsNeeded === null ? "" : `${capacity.plan.mirrorLaptopsNeeded} mirror laptop(s) besides this one`}</dd>
    <dd class="muted" data-plan="more">${describeMoreLaptops(capacity.plan)}</dd></div>
</dl>
<p class="muted small">Throughput starts at the peak measured over ${status.traffic.windowSeconds} s; each mirror laptop is assumed to add as much (its own cable or access point). Serving laptops starts at this one plus the mirror laptops that answer.</p>`;
}

export function renderDashboardPage(status: MonitorStatus): string {
  const sections = renderDashboardSections(status);
  const first = status.venue.addresses[0];
  return htmlPage(
    `${status.title}: dashboard`,
    "dashboard",
    `<header>
  <h1>${escapeHtml(status.title)}</h1>
  <div class="venue-url" data-field="venue-url">${first ? escapeHtml(first.url) : "no LAN address"}</div>
  <div class="live" id="live" data-state="static">live updates off</div>
</header>
<main>
<section class="problems-box" data-section="problems">${sections.problems}</section>
<section class="tiles" data-section="summary">${sections.summary}</section>
<div class="columns">
  <div class="column">
    <section class="panel" data-section="health">${sections.health}</section>
    <section class="panel" data-section="mirrors">${sections.mirrors}</section>
    <section class="panel" data-section="join">${sections.join}</section>
    <section class="panel planner" id="planner">${renderPlanner(status)}</section>
  </div>
  <div class="column">
    <section class="panel" data-section="images">${sections.images}</section>
  </div>
</div>
</main>
<footer data-section="footer">${sections.footer}</footer>
<script type="application/json" id="initial-status">${scriptJson(status)}</script>
<script src="/static/dashboard.js" defer></script>`,
  );
}

/** The three things that go wrong on attendees' laptops, and what they do about each. */
export const ATTENDEE_FIXES: Array<{ symptom: string; fix: string }> = [
  {
    symptom: "“server gave HTTP response to HTTPS client”",
    fix: "Docker has not picked up the venue yet: run the command again, then restart Docker (Docker Desktop: Quit, then open it again).",
  },
  {
    symptom: "“Cannot connect to the Docker daemon” / “Is the docker daemon running?”",
    fix: "Start Docker Desktop and wait until it says it is running, then run the command again.",
  },
  {
    symptom: "“This needs administrator rights”",
    fix: "Run the command again with sudo (Linux), or in a terminal opened as Administrator (Windows).",
  },
];

/** The numbered slides, one screen each (/slides/1 to /slides/3); /slides holds all three on one screen. */
export const SLIDE_COUNT = 3;

function slideCommands(commands: string[]): string {
  return commands.map((c) => `<pre class="slide-command" data-field="slide-command">${escapeHtml(c)}</pre>`).join("\n");
}

/** Where an address's attendee can read the guides without internet. */
function guidesUrl(address: VenueAddress | undefined): string | undefined {
  return address ? `${address.url}${GUIDES_URL_PATH}` : undefined;
}

/** The same command with `undo` after it: the last line is the tool itself. */
function undoCommand(commands: string[]): string | undefined {
  return commands.length > 0 ? `${commands[commands.length - 1]} undo` : undefined;
}

function otherNetworks(others: VenueAddress[]): string {
  return others
    .map(
      (a) =>
        `<div class="slide-other" data-address="${escapeHtml(a.address)}">Other network: <strong>${escapeHtml(a.url)}</strong> ${a.commands
          .map((c) => `<code>${escapeHtml(c)}</code>`)
          .join(" ")}</div>`,
    )
    .join("\n");
}

function fixList(): string {
  return `<ol class="fixes">${ATTENDEE_FIXES.map((f) => `<li><span class="symptom">${f.symptom}</span><span class="fix">${escapeHtml(f.fix)}</span></li>`).join("\n")}</ol>`;
}

function slideUrl(first: VenueAddress | undefined): string {
  return `<div class="slide-url" data-field="slide-url">${first ? escapeHtml(first.url) : "Ask the facilitator for the address"}</div>`;
}

function guidesLine(first: VenueAddress | undefined): string {
  const url = guidesUrl(first);
  return url ? `More help, without internet: <a data-field="slide-guides" href="${escapeHtml(url)}">${escapeHtml(url)}</a>` : "";
}

/**
 * Links to the single slides, and the head's rel=next/prev, which the arrow keys and a presenter's
 * clicker (Page Down / Page Up) follow (SLIDES_SCRIPT).
 */
function slideNavigation(current: number | undefined): { head: string; nav: string } {
  const links = [`<a href="/slides"${current === undefined ? ' aria-current="page"' : ""}>all on one</a>`];
  for (let n = 1; n <= SLIDE_COUNT; n++) links.push(`<a href="/slides/${n}"${current === n ? ' aria-current="page"' : ""}>${n}</a>`);
  const next = current === undefined ? 1 : current < SLIDE_COUNT ? current + 1 : undefined;
  const previous = current === undefined ? undefined : current > 1 ? current - 1 : 0;
  const rel = [
    next === undefined ? "" : `<link rel="next" href="/slides/${next}">`,
    previous === undefined ? "" : `<link rel="prev" href="${previous === 0 ? "/slides" : `/slides/${previous}`}">`,
  ].join("");
  return { head: `${rel}<script src="/static/slides.js" defer></script>`, nav: `<nav class="slide-nav" aria-label="Slides">${links.join(" · ")}</nav>` };
}

/** /slides: the address, the command and the three fixes, all on one screen and one printed page. */
export function renderSlidesPage(status: MonitorStatus): string {
  const [first, ...others] = status.venue.addresses;
  const navigation = slideNavigation(undefined);
  return htmlPage(
    `${status.title}: get the workshop images`,
    "slides",
    `<main class="slide">
  <h1>Get the workshop images from the room</h1>
  ${slideUrl(first)}
  <p class="slide-lead">Docker running? Open a terminal and run:</p>
  ${first ? slideCommands(first.commands) : ""}
  ${otherNetworks(others)}
  <h2>If it fails</h2>
  ${fixList()}
  <p class="slide-note">No venue? The command falls back to Docker Hub by itself, only slower. ${guidesLine(first)}</p>
</main>
${navigation.nav}`,
    navigation.head,
  );
}

/** /slides/1 (the address), /slides/2 (the command, and undo), /slides/3 (if it fails): one per screen and per printed page. */
export function renderSingleSlidePage(status: MonitorStatus, slide: number): string {
  const [first, ...others] = status.venue.addresses;
  const commands = first?.commands ?? [];
  const undo = undoCommand(commands);
  const bodies: Record<number, { title: string; body: string }> = {
    1: {
      title: "the address",
      body: `<h1>Get the workshop images from the room</h1>
  ${slideUrl(first)}
  <p class="slide-lead">Join the venue Wi-Fi first, then open this address in a browser to check that you can reach it.</p>
  ${otherNetworks(others)}`,
    },
    2: {
      title: "the command",
      body: `<h1>Docker running? Open a terminal and run:</h1>
  ${slideCommands(commands)}
  <p class="slide-lead">Say yes if Docker Desktop asks to restart. Wait for <strong>Ready</strong>, then check with <code>docker images | grep workshop</code>.</p>
  ${undo ? `<h2>After the workshop</h2>\n  <pre class="slide-command" data-field="slide-undo">${escapeHtml(undo)}</pre>` : ""}`,
    },
    3: {
      title: "if it fails",
      body: `<h1>If it fails</h1>
  ${fixList()}
  <p class="slide-lead">${guidesLine(first) || "Ask the facilitator for the venue's address."}</p>
  <p class="slide-note">No venue? The command falls back to Docker Hub by itself, only slower.</p>`,
    },
  };
  const chosen = bodies[slide];
  if (!chosen) throw new RangeError(`There is no slide ${slide}: the slides are 1 to ${SLIDE_COUNT}.`);
  const navigation = slideNavigation(slide);
  return htmlPage(
    `${status.title}: ${chosen.title}`,
    "slides single",
    `<main class="slide" data-slide="${slide}">
  ${chosen.body}
</main>
${navigation.nav}`,
    navigation.head,
  );
}

/** Presenter keys: → / Page Down / Space go to the next slide, ← / Page Up to the previous one. */
export const SLIDES_SCRIPT = `"use strict";
document.addEventListener("keydown", function (event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  var forward = ["ArrowRight", "PageDown", " "].indexOf(event.key) >= 0;
  var back = ["ArrowLeft", "PageUp"].indexOf(event.key) >= 0;
  var link = document.querySelector(forward ? 'link[rel="next"]' : back ? 'link[rel="prev"]' : "none");
  if (!link) return;
  event.preventDefault();
  window.location.href = link.getAttribute("href");
});
`;

// ---- Assets -------------------------------------------------------------------------------------

export const DASHBOARD_CSS = `
:root { --ink: #111; --muted: #555; --line: #d0d4da; --bg: #fff; --panel: #f4f6f8;
  --good: #0b7a34; --bad: #b3261e; --warn: #9a5b00; --accent: #0b4f9c; }
* { box-sizing: border-box; }
html { font-size: 18px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--ink); background: var(--bg); line-height: 1.35; }
h1, h2 { margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; }
pre, code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.muted { color: var(--muted); }
.small { font-size: .85rem; }
.dashboard header { display: flex; align-items: baseline; gap: 1.5rem; flex-wrap: wrap; padding: 1rem 1.5rem;
  border-bottom: 3px solid var(--accent); }
.dashboard header h1 { font-size: 1.6rem; }
.venue-url { font-size: 2rem; font-weight: 700; color: var(--accent); }
.live { margin-left: auto; font-size: .9rem; color: var(--muted); }
.live[data-state="live"]::before { content: "● "; color: var(--good); }
.live[data-state="reconnecting"]::before { content: "● "; color: var(--bad); }
main { padding: 1rem 1.5rem; }
.problems-box { margin-bottom: 1rem; }
.problems-box h2 { color: var(--bad); }
.problems { margin: 0; padding-left: 1.2rem; }
.problems li { margin: .3rem 0; }
.problems .what { font-weight: 600; }
.problems .action { color: var(--muted); }
.problems code { background: #e8ebef; padding: 0 .25em; border-radius: .2em; color: var(--ink); }
.all-good { margin: 0; color: var(--good); font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: 1rem; margin-bottom: 1rem; }
.tile { background: var(--panel); border-radius: .6rem; padding: .9rem 1.1rem; border-left: .5rem solid var(--line); }
.tile.good { border-left-color: var(--good); }
.tile.bad { border-left-color: var(--bad); }
.tile.warn { border-left-color: var(--warn); }
.tile-label { font-size: .95rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.tile-value { font-size: 3.2rem; font-weight: 750; line-height: 1.1; font-variant-numeric: tabular-nums; }
.tile-value .of { color: var(--muted); font-weight: 600; }
.tile-detail { font-size: 1rem; color: var(--muted); }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
@media (max-width: 60rem) { .columns { grid-template-columns: 1fr; } }
.panel { background: var(--panel); border-radius: .6rem; padding: .9rem 1.1rem; margin-bottom: 1rem; }
.health { list-style: none; margin: 0; padding: 0; }
.health li { display: grid; grid-template-columns: 1.2rem 7rem 5rem 1fr; align-items: baseline; padding: .2rem 0; }
.dot { display: inline-block; width: .8rem; height: .8rem; border-radius: 50%; background: var(--line); margin-right: .4rem; }
.good .dot { background: var(--good); }
.bad .dot { background: var(--bad); }
.warn .dot { background: var(--warn); }
.health .state { font-weight: 700; }
.health .bad .state, tr.bad .available { color: var(--bad); font-weight: 700; }
.health .detail { color: var(--muted); overflow-wrap: anywhere; }
.health.mirrors li { grid-template-columns: 1.2rem minmax(9rem, max-content) 5rem 1fr; column-gap: .6rem; }
.address { margin: .4rem 0 .8rem; }
.address .url { font-size: 1.4rem; font-weight: 700; color: var(--accent); }
.command { margin: .3rem 0; padding: .5rem .7rem; background: #fff; border: 1px solid var(--line); border-radius: .4rem;
  font-size: 1rem; white-space: pre-wrap; word-break: break-all; }
.slide-link { font-size: .9rem; font-weight: 400; margin-left: .6rem; }
table.images { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.images th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); padding: .3rem .4rem; }
table.images td { border-bottom: 1px solid var(--line); padding: .3rem .4rem; }
table.images td.target { overflow-wrap: anywhere; }
.num { text-align: right; }
.planner-inputs { display: flex; flex-wrap: wrap; gap: 1rem; margin-bottom: .6rem; }
.planner-inputs label { display: flex; flex-direction: column; font-size: .9rem; color: var(--muted); }
.planner-inputs input { font-size: 1.3rem; width: 9rem; padding: .2rem .4rem; border: 1px solid var(--line); border-radius: .3rem; }
.planner-results { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .6rem 1rem; margin: 0; }
.planner-results dt { font-size: .9rem; color: var(--muted); }
.planner-results dd { margin: 0; font-size: 1.6rem; font-weight: 700; }
.planner-results dd.muted { font-size: .85rem; font-weight: 400; }
footer { padding: .6rem 1.5rem 1.2rem; color: var(--muted); font-size: .85rem; }

.slides { background: #fff; }
/* Sized by the smaller of width and height, so the whole slide fits one 16:9 or 4:3 screen. */
.slide { max-width: 80rem; margin: 0 auto; padding: 3vh 4vw; }
.slide h1 { font-size: min(3.2vw, 5.5vh); margin: 0; }
.slide-url { font-size: min(6.2vw, 12vh); font-weight: 800; color: var(--accent); letter-spacing: -.01em;
  overflow-wrap: anywhere; margin: .15em 0 .25em; line-height: 1.1; }
.slide-lead { font-size: min(2vw, 3.6vh); margin: 0 0 .3em; }
.slide-command { font-size: min(2.1vw, 4vh); padding: .5em .8em; margin: .3em 0; background: #111; color: #fff;
  border-radius: .4rem; white-space: pre-wrap; word-break: break-all; }
.slide-other { font-size: min(1.4vw, 2.6vh); margin: .4em 0; }
.slide h2 { font-size: min(2.2vw, 4vh); margin: .8em 0 .3em; }
.fixes { font-size: min(1.6vw, 3vh); padding-left: 1.4em; margin: 0; }
.fixes li { margin: .3em 0; }
.fixes .symptom { font-weight: 700; display: block; }
.fixes .fix { color: #333; }
.slide-note { font-size: min(1.4vw, 2.6vh); color: var(--muted); margin: .6em 0 0; }
.slide-nav { position: fixed; right: 1rem; bottom: .6rem; font-size: .85rem; color: var(--muted); }
.slide-nav a { color: var(--muted); }
.slide-nav a[aria-current] { color: var(--ink); font-weight: 700; text-decoration: none; }
/* One slide per screen: larger type, since each says less. */
.single .slide { min-height: 100vh; display: flex; flex-direction: column; justify-content: center; }
.single .slide h1 { font-size: min(4.4vw, 8vh); margin-bottom: .4em; }
.single .slide-url { font-size: min(8vw, 16vh); }
.single .slide-lead { font-size: min(2.6vw, 4.6vh); }
.single .slide-command { font-size: min(2.6vw, 4.8vh); }
.single .fixes { font-size: min(2.3vw, 4.2vh); }
.single .slide h2 { font-size: min(3vw, 5.4vh); }

.guide { background: #fff; }
.guide-nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; margin: 0; padding: .8rem 1.5rem;
  background: var(--panel); border-bottom: 1px solid var(--line); }
.guide-nav li[aria-current] { font-weight: 700; }
.guide-body { max-width: 52rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; line-height: 1.5; }
.guide-body pre { background: var(--panel); padding: .6rem .8rem; border-radius: .4rem; overflow-x: auto; font-size: .9rem; }
.guide-body code { font-size: .92em; }
.guide-body table { border-collapse: collapse; margin: .6rem 0; }
.guide-body th, .guide-body td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }

@media print {
  @page { size: A4 landscape; margin: 12mm; }
  html { font-size: 12pt; }
  .live, .slide-link, .planner-inputs input::placeholder { display: none; }
  .tile, .panel { background: none; border: 1px solid #999; break-inside: avoid; }
  .slide { max-width: none; padding: 0; }
  .slide-url { font-size: 48pt; color: #000; }
  .slide-command { background: none; color: #000; border: 2px solid #000; font-size: 18pt; }
  .fixes { font-size: 14pt; }
  .slide h1 { font-size: 24pt; }
  .slide h2 { font-size: 18pt; }
  .slide-nav, .guide-nav { display: none; }
  .single .slide { min-height: auto; }
  .guide-body { max-width: none; }
}
`;

/** The browser side: follow /events, swap sections, re-plan capacity. Plain ES2017, no framework. */
export const DASHBOARD_SCRIPT = `"use strict";
(function () {
  var formatBytes = ${formatBytes.toString()};
  var formatDuration = ${formatDuration.toString()};
  var planCapacity = ${planCapacity.toString()};
  var describeMoreLaptops = ${describeMoreLaptops.toString()};
  var latest = JSON.parse(document.getElementById("initial-status").textContent);
  var live = document.getElementById("live");
  var attendees = document.getElementById("plan-attendees");
  var target = document.getElementById("plan-target");
  var throughput = document.getElementById("plan-throughput");
  var throughputEdited = false;
  var laptops = document.getElementById("plan-laptops");
  var laptopsEdited = false;

  function setText(name, text) {
    var element = document.querySelector('[data-plan="' + name + '"]');
    if (element) element.textContent = text;
  }

  function replan() {
    var capacity = latest.capacity;
    var perSecond = throughputEdited ? Number(throughput.value) * 1e6 : capacity.throughputBytesPerSecond;
    var plan = planCapacity({
      attendees: Number(attendees.value),
      bytesPerAttendee: capacity.bytesPerAttendee,
      throughputBytesPerSecond: perSecond,
      targetMinutes: Number(target.value),
      servingLaptops: laptopsEdited ? Number(laptops.value) : capacity.servingLaptops
    });
    setText("bytes-per-attendee", formatBytes(capacity.bytesPerAttendee));
    setText("total-bytes", formatBytes(plan.totalBytes));
    setText("time", plan.secondsToServeAll === null ? "\\u2013" : formatDuration(plan.secondsToServeAll));
    setText("laptops", plan.laptopsNeeded === null ? "\\u2013" : String(plan.laptopsNeeded));
    setText("mirrors", plan.mirrorLaptopsNeeded === null ? "" : plan.mirrorLaptopsNeeded + " mirror laptop(s) besides this one");
    setText("more", describeMoreLaptops(plan));
  }

  function apply(payload) {
    latest = payload.status;
    Object.keys(payload.sections).forEach(function (name) {
      var section = document.querySelector('[data-section="' + name + '"]');
      if (section) section.innerHTML = payload.sections[name];
    });
    if (!laptopsEdited && document.activeElement !== laptops) laptops.value = String(latest.capacity.servingLaptops);
    if (!throughputEdited && document.activeElement !== throughput) {
      var measured = latest.capacity.throughputBytesPerSecond;
      throughput.value = measured > 0 ? (measured / 1e6).toFixed(1) : "";
    }
    replan();
  }

  [attendees, target].forEach(function (input) { input.addEventListener("input", replan); });
  throughput.addEventListener("input", function () { throughputEdited = throughput.value !== ""; replan(); });
  laptops.addEventListener("input", function () { laptopsEdited = laptops.value !== ""; replan(); });

  if (window.EventSource) {
    var source = new EventSource("/events");
    source.addEventListener("status", function (event) {
      live.dataset.state = "live";
      live.textContent = "live";
      apply(JSON.parse(event.data));
    });
    source.addEventListener("error", function () {
      live.dataset.state = "reconnecting";
      live.textContent = "reconnecting to the monitor\\u2026";
    });
  }
})();
`;

/**
 * The facilitator's terminal view of a running monitor: it polls /api/status and shows the same
 * figures as the dashboard. On a terminal the screen is redrawn in place; when the output is a file
 * or a pipe, one line per interval, so a log of the workshop can be kept with `> watch.log`.
 */
import { formatBytes } from "./byte-size";
import { formatCount } from "./dashboard-page";
import type { MonitorStatus } from "./monitor";
import { describeFetchError } from "./stub-status";

export interface TerminalMonitorOptions {
  /** The monitor's base URL, e.g. "http://127.0.0.1:5000" (through the front door). */
  url: string;
  intervalMs?: number;
  output?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Redraw in place; defaults to whether the output is a TTY. */
  interactive?: boolean;
  /** Stop after this many refreshes (tests, scripts); runs until aborted otherwise. */
  maxRefreshes?: number;
  signal?: AbortSignal;
}

export function statusUrlOf(url: string): string {
  const base = url.trim().replace(/\/+$/, "");
  return base.endsWith("/api/status") ? base : `${base}/api/status`;
}

export async function fetchMonitorStatus(url: string, timeoutMs = 5_000): Promise<MonitorStatus> {
  const statusUrl = statusUrlOf(url);
  let response: Response;
  try {
    response = await fetch(statusUrl, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`The monitor at ${statusUrl} does not answer (${describeFetchError(error)}). Is the stack up? Run \`pulumi up\`, or check \`docker ps\` for venue-monitor.`);
  }
  const body = await response.text();
  if (response.status !== 200) {
    throw new Error(`The monitor at ${statusUrl} answered HTTP ${response.status}; is that the venue's address? (${body.slice(0, 80).trim()})`);
  }
  try {
    return JSON.parse(body) as MonitorStatus;
  } catch {
    throw new Error(`The answer from ${statusUrl} is not the monitor's JSON; is that the venue's address?`);
  }
}

function healthText(status: MonitorStatus): string {
  const parts: string[] = [];
  if (status.health.frontDoor) parts.push(`front door ${status.health.frontDoor.healthy ? "ok" : "DOWN"}`);
  const replicas = status.health.replicas;
  if (replicas.length > 0) {
    const up = replicas.filter((r) => r.healthy).length;
    parts.push(`replicas ${up}/${replicas.length} up`);
  }
  if (status.mirrors.length > 0) parts.push(`mirror laptops ${status.mirrors.filter((m) => m.healthy).length}/${status.mirrors.length} up`);
  return parts.join(", ") || "health not measured";
}

/** One mirror laptop as the screen shows it: address, health, and its own throughput and downloads. */
function mirrorText(mirror: MonitorStatus["mirrors"][number]): string {
  if (!mirror.healthy) return `${mirror.address} DOWN: ${mirror.problem ?? "not answering"}`;
  const throughput = mirror.throughputBytesPerSecond === null ? "? B/s" : `${formatBytes(mirror.throughputBytesPerSecond)}/s`;
  const downloads = mirror.activeDownloads === null ? "?" : formatCount(mirror.activeDownloads);
  return `${mirror.address} ok, ${throughput}, ${downloads} downloads`;
}

/** The one-line form, for pipes and files. */
export function formatStatusLine(status: MonitorStatus): string {
  const active = status.downloads.active === null ? "?" : formatCount(status.downloads.active);
  return [
    status.generatedAt.slice(11, 19),
    `images ${status.images.available}/${status.images.expected}`,
    `downloads ${active}`,
    `machines ${formatCount(status.clients.distinct)} (${formatCount(status.clients.recent)} in ${status.clients.recentWindowMinutes} min)`,
    `served ${formatBytes(status.traffic.bytesServed)}`,
    `${formatBytes(status.traffic.throughputBytesPerSecond)}/s`,
    healthText(status),
    status.problems.length === 0 ? "all good" : `${status.problems.length} problem(s)`,
  ].join(" | ");
}

/** The full-screen form, for a terminal. */
export function formatStatusScreen(status: MonitorStatus, width = 100): string[] {
  const cut = (line: string): string => (line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line);
  const lines: string[] = [];
  lines.push(`${status.title} · ${status.generatedAt.slice(11, 19)} UTC`);
  for (const address of status.venue.addresses) lines.push(`  ${address.url}   ${address.commands.join("  &&  ")}`);
  lines.push("");
  const active = status.downloads.active === null ? "? (nginx status not readable)" : formatCount(status.downloads.active);
  lines.push(`  Images in the registry  ${status.images.available} / ${status.images.expected}${status.images.missing.length ? `   missing: ${status.images.missing.join(", ")}` : ""}`);
  lines.push(`  Downloads running       ${active}`);
  lines.push(`  Attendee machines       ${formatCount(status.clients.distinct)}   (${formatCount(status.clients.recent)} in the last ${status.clients.recentWindowMinutes} min)`);
  lines.push(`  Served                  ${formatBytes(status.traffic.bytesServed)}   now ${formatBytes(status.traffic.throughputBytesPerSecond)}/s, peak ${formatBytes(status.traffic.peakThroughputBytesPerSecond)}/s`);
  lines.push(`  Health                  ${healthText(status)}`);
  for (const endpoint of [status.health.frontDoor, ...status.health.replicas]) {
    if (endpoint && !endpoint.healthy) lines.push(`     ${endpoint.name}: ${endpoint.problem ?? "not answering"}`);
  }
  status.mirrors.forEach((mirror, i) => lines.push(`  ${i === 0 ? "Mirror laptops         " : "                       "} ${mirrorText(mirror)}`));
  const plan = status.capacity.plan;
  if (plan.secondsToServeAll !== null) {
    lines.push(
      `  Capacity                ${formatCount(status.capacity.expectedAttendees)} attendees x ${formatBytes(status.capacity.bytesPerAttendee)}: ${Math.ceil(plan.secondsToServeAll / 60)} min; ${plan.laptopsNeeded} laptop(s) for ${status.capacity.targetMinutes} min`,
    );
  }
  const busiest = [...status.images.list].sort((a, b) => b.pulls - a.pulls).filter((i) => i.pulls > 0).slice(0, 5);
  if (busiest.length > 0) lines.push(`  Most pulled             ${busiest.map((i) => `${i.target} ${i.pulls}`).join(", ")}`);
  lines.push("");
  if (status.problems.length === 0) lines.push("  All good: nothing needs you right now.");
  for (const problem of status.problems) {
    lines.push(`  ! ${problem.what}`);
    lines.push(`    ${problem.action}`);
  }
  return lines.map(cut);
}

/** Runs until the signal aborts or maxRefreshes is reached; a monitor that stops answering is reported, not fatal. */
export async function runTerminalMonitor(options: TerminalMonitorOptions): Promise<void> {
  const output = options.output ?? process.stdout;
  const tty = output as NodeJS.WriteStream;
  const interactive = options.interactive ?? Boolean(tty.isTTY);
  const interval = options.intervalMs ?? 2_000;
  let refreshes = 0;
  // Hide the cursor and start from a clear screen; the cursor comes back however the loop ends.
  if (interactive) output.write("\x1b[?25l\x1b[2J");
  try {
    while (!options.signal?.aborted) {
      let text: string;
      try {
        const status = await fetchMonitorStatus(options.url);
        text = interactive ? formatStatusScreen(status, tty.columns ?? 100).join("\n") : formatStatusLine(status);
      } catch (error) {
        text = `${new Date().toISOString().slice(11, 19)} | ${(error as Error).message}`;
      }
      if (interactive) {
        // Home, draw, clear what the previous (longer) screen left below: no flicker, no scrollback spam.
        output.write(`\x1b[H${text.split("\n").map((line) => `${line}\x1b[K`).join("\n")}\n\x1b[J`);
      } else {
        output.write(`${text}\n`);
      }
      refreshes += 1;
      if (options.maxRefreshes !== undefined && refreshes >= options.maxRefreshes) break;
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          options.signal?.removeEventListener("abort", stop);
          resolve();
        }, interval);
        options.signal?.addEventListener("abort", stop, { once: true });
      });
    }
  } finally {
    if (interactive) output.write("\x1b[?25h");
  }
}

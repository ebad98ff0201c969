/**
 * nginx's stub_status page: connection counts of the front door right now. "Writing" counts the
 * connections whose response nginx is sending, which is how the dashboard knows about downloads
 * still in flight (the access log only has finished requests).
 *
 * The page looks like:
 *   Active connections: 291
 *   server accepts handled requests
 *    16630948 16630948 31070465
 *   Reading: 6 Writing: 179 Waiting: 106
 */

export interface StubStatus {
  /** Open client connections, waiting ones included. */
  active: number;
  accepts: number;
  handled: number;
  requests: number;
  /** Connections whose request header nginx is reading. */
  reading: number;
  /** Connections whose response nginx is sending (or preparing, e.g. waiting on a replica). */
  writing: number;
  /** Idle keep-alive connections. */
  waiting: number;
}

export class StubStatusFormatError extends Error {
  constructor(text: string) {
    super(`not an nginx stub_status page (is the URL right, and is stub_status enabled there?): ${JSON.stringify(text.slice(0, 120))}`);
    this.name = "StubStatusFormatError";
  }
}

export function parseStubStatus(text: string): StubStatus {
  const active = /Active connections:\s*(\d+)/.exec(text);
  const counters = /server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  const states = /Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)/.exec(text);
  if (!active || !counters || !states) throw new StubStatusFormatError(text);
  return {
    active: Number(active[1]),
    accepts: Number(counters[1]),
    handled: Number(counters[2]),
    requests: Number(counters[3]),
    reading: Number(states[1]),
    writing: Number(states[2]),
    waiting: Number(states[3]),
  };
}

export async function fetchStubStatus(url: string, timeoutMs = 2_000): Promise<StubStatus> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { Connection: "close" } });
  } catch (error) {
    throw new Error(`nginx stub_status at ${url} did not answer: ${describeFetchError(error)}`);
  }
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`nginx stub_status at ${url} answered HTTP ${response.status}; it must allow the monitor's address`);
  }
  return parseStubStatus(text);
}

/**
 * Downloads in flight: connections nginx is writing to, minus the ones that are not downloads: the
 * stub_status request being answered right now, and long-lived requests such as dashboards
 * following /events through the front door.
 */
export function activeDownloads(status: StubStatus, ownRequests = 1, otherLongRequests = 0): number {
  return Math.max(0, status.writing - ownRequests - otherLongRequests);
}

/** Node's fetch hides the socket error in `cause`; people need "connection refused", not "fetch failed". */
export function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "no answer in time (timed out)";
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === "ECONNREFUSED") return "connection refused (nothing listening there)";
    if (cause?.code === "ENOTFOUND" || cause?.code === "EAI_AGAIN") return `host name not found (${cause.code})`;
    if (cause?.code === "ECONNRESET") return "connection reset";
    if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`;
    return error.message;
  }
  return String(error);
}

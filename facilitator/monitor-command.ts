/**
 * `venue monitor`: the dashboard service (lib/monitor.ts), as the stack's monitor container runs it.
 * `venue watch`: the facilitator's terminal view of a running monitor (lib/terminal-monitor.ts).
 */
import type { CommandModule } from "yargs";
import { DEFAULT_ATTENDEE_COMMAND, DEFAULT_EXPECTED_ATTENDEES, DEFAULT_TARGET_MINUTES, startMonitor } from "../lib/monitor";
import { hostPortProblem } from "../lib/mirror-list";
import { runTerminalMonitor } from "../lib/terminal-monitor";

interface MonitorArgs {
  listen: string;
  lock: string;
  "access-log": string;
  "stub-status-url"?: string;
  replica: string[];
  "front-door-url"?: string;
  "lan-address": string[];
  "attendee-command": string[];
  "expected-attendees": number;
  "target-minutes": number;
  title?: string;
  "refresh-seconds": number;
  mirror: string[];
}

export const monitorCommand: CommandModule<object, MonitorArgs> = {
  command: "monitor",
  describe: "Serve the venue dashboard (/), the projector slide (/slides), /api/status and /events",
  builder: (y) =>
    y
      .option("listen", { type: "string", default: "0.0.0.0:8080", describe: "host:port to listen on" })
      .option("lock", { type: "string", default: "/srv/venue/attendee/venue-lock.json", describe: "The venue lock file" })
      .option("access-log", { type: "string", default: "/var/log/venue/access.json", describe: "The front door's JSON access log" })
      .option("stub-status-url", { type: "string", describe: "nginx stub_status, e.g. http://venue-frontdoor:8081/stub_status" })
      .option("replica", { type: "string", array: true, default: [], describe: "A read replica's base URL (repeat per replica)" })
      .option("front-door-url", { type: "string", describe: "The front door's base URL as the monitor reaches it" })
      .option("lan-address", { type: "string", array: true, default: [], describe: "host:port attendees use (repeat per network)" })
      .option("attendee-command", {
        type: "string",
        array: true,
        default: [DEFAULT_ATTENDEE_COMMAND],
        describe: "The command attendees run ({venue} becomes each LAN address); repeat for a second command",
      })
      .option("expected-attendees", { type: "number", default: DEFAULT_EXPECTED_ATTENDEES, describe: "The capacity planner's attendees" })
      .option("target-minutes", { type: "number", default: DEFAULT_TARGET_MINUTES, describe: "The capacity planner's target time" })
      .option("title", { type: "string", describe: "Heading of the dashboard and the slide" })
      .option("refresh-seconds", { type: "number", default: 2, describe: "How often the figures are refreshed" })
      .option("mirror", {
        type: "string",
        array: true,
        default: [],
        describe: "A mirror laptop's front door, host:port (repeat per mirror): its health and throughput go on the dashboard",
      }) as any,
  handler: async (args) => {
    const badMirrors = args.mirror.map(hostPortProblem).filter((problem): problem is string => problem !== undefined);
    if (badMirrors.length > 0) {
      process.stderr.write(`venue monitor: --mirror ${badMirrors.join("; ")}. Fix the stack's mirrors config (pulumi config get mirrors).\n`);
      process.exitCode = 2;
      return;
    }
    const monitor = await startMonitor({
      listen: args.listen,
      lockFile: args.lock,
      accessLogFile: args["access-log"],
      stubStatusUrl: args["stub-status-url"],
      replicaUrls: args.replica,
      frontDoorUrl: args["front-door-url"],
      lanAddresses: args["lan-address"],
      attendeeCommands: args["attendee-command"],
      expectedAttendees: args["expected-attendees"],
      targetMinutes: args["target-minutes"],
      title: args.title,
      refreshIntervalMs: Math.max(0.5, args["refresh-seconds"]) * 1000,
      mirrors: args.mirror,
    });
    console.log(`Venue monitor listening on ${args.listen} (${monitor.url}); dashboard at /, slide at /slides.`);
    const stop = (): void => {
      void monitor.close().then(() => process.exit(0));
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  },
};

interface WatchArgs {
  url: string;
  "interval-seconds": number;
  once: boolean;
}

export const watchCommand: CommandModule<object, WatchArgs> = {
  command: "watch",
  describe: "Show the venue's figures in this terminal, refreshed in place (one line per refresh when piped)",
  builder: (y) =>
    y
      .option("url", { type: "string", default: "http://127.0.0.1:5000", describe: "The venue's address (the front door)" })
      .option("interval-seconds", { type: "number", default: 2, describe: "Seconds between refreshes" })
      .option("once", { type: "boolean", default: false, describe: "Print the figures once and exit" }) as any,
  handler: async (args) => {
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.once("SIGTERM", () => controller.abort());
    await runTerminalMonitor({
      url: args.url,
      intervalMs: Math.max(0.5, args["interval-seconds"]) * 1000,
      maxRefreshes: args.once ? 1 : undefined,
      interactive: args.once ? false : undefined,
      signal: controller.signal,
    });
  },
};

#!/usr/bin/env node
/**
 * `npx workshop-attendee`: the yargs surface over lib/attendee-setup.ts. Flags in, exit code out;
 * all behaviour and every message live in lib/.
 */
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import yargs, { Argv } from "yargs";
import {
  AttendeeContext,
  AttendeeExit,
  AttendeeExitCode,
  AttendeeStop,
  CommandOutcome,
  DEFAULT_CONCURRENCY,
  parseRegistryList,
  runConfigure,
  runPull,
  runSetup,
  runStatus,
  runUndo,
  runVerify,
} from "../lib/attendee-setup";
import { DockerEngine, EngineAddressError } from "../lib/docker-engine";
import { systemProbe } from "../lib/docker-environment";
import { wantsInteractiveOutput } from "../lib/progress-display";
import { DEFAULT_RETRY_DELAY_MS, DEFAULT_STALL_TIMEOUT_MS } from "../lib/puller";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const packageJson = require("./package.json") as { version: string };

/** Set by scripts/pack-attendee.ts (esbuild define) to the venue the package is served from. */
declare const __WORKSHOP_VENUE__: string | undefined;
const bakedVenue = typeof __WORKSHOP_VENUE__ === "string" ? __WORKSHOP_VENUE__ : undefined;

export type CommandName = "setup" | "configure" | "pull" | "verify" | "status" | "undo";

const runners: Record<CommandName, (ctx: AttendeeContext) => Promise<CommandOutcome>> = {
  setup: runSetup,
  configure: runConfigure,
  pull: runPull,
  verify: runVerify,
  status: runStatus,
  undo: runUndo,
};

export interface GlobalArgs {
  registry?: string[];
  json: boolean;
  yes: boolean;
  concurrency: number;
  "stall-timeout": number;
  fallback: boolean;
  "daemon-config"?: string;
  "dockerd-pid"?: number;
  "retry-delay-ms": number;
  "restart-wait": number;
}

function askYesNo(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return Promise.resolve(true);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      resolve(!/^n/i.test(answer.trim()));
    });
  });
}

function printJson(document: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
}

async function execute(command: CommandName, args: GlobalArgs): Promise<AttendeeExitCode> {
  const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  const fail = (exitCode: AttendeeExitCode, message: string, fix: string[]): AttendeeExitCode => {
    process.stderr.write(`✖ ${message}\n`);
    for (const line of fix) process.stderr.write(`  ${line}\n`);
    if (args.json) printJson({ command, ok: false, exitCode, error: { message, fix } });
    return exitCode;
  };

  let registries: string[];
  try {
    registries = parseRegistryList(args.registry ?? (process.env.WORKSHOP_VENUE ? [process.env.WORKSHOP_VENUE] : bakedVenue ? [bakedVenue] : []));
  } catch (error) {
    return fail(AttendeeExit.usage, (error as Error).message, []);
  }
  if (registries.length === 0) {
    return fail(AttendeeExit.usage, "Which venue? Give its address, for example: --registry 192.168.1.20:5000", ["The address is on the projector."]);
  }
  if (!Number.isInteger(args.concurrency) || args.concurrency < 1 || args.concurrency > 16) {
    return fail(AttendeeExit.usage, `--concurrency must be a whole number from 1 to 16 (got ${args.concurrency}).`, []);
  }
  const stallSeconds = args["stall-timeout"];
  if (!Number.isFinite(stallSeconds) || stallSeconds < 1 || stallSeconds > 600) {
    return fail(AttendeeExit.usage, `--stall-timeout must be a number of seconds from 1 to 600 (got ${stallSeconds}).`, []);
  }

  let engine: DockerEngine;
  try {
    engine = new DockerEngine();
  } catch (error) {
    if (error instanceof EngineAddressError) return fail(AttendeeExit.dockerNotRunning, error.message, []);
    throw error;
  }
  const probe = systemProbe();
  const packageUrl = `http://${registries[0]}/attendee/workshop-attendee.tgz`;
  const ctx: AttendeeContext = {
    registries,
    json: args.json,
    yes: args.yes,
    concurrency: args.concurrency,
    fallback: args.fallback,
    retryDelayMs: args["retry-delay-ms"],
    stallTimeoutMs: stallSeconds * 1000,
    restartWaitSeconds: args["restart-wait"],
    daemonConfigOverride: args["daemon-config"],
    dockerdPidOverride: args["dockerd-pid"],
    probe,
    engine,
    lockCacheFile: path.join(probe.homeDir || os.tmpdir(), ".workshop-attendee", `venue-lock-${registries[0].replace(/[^A-Za-z0-9.-]/g, "_")}.json`),
    rerunCommand: `npx -y ${packageUrl} ${process.argv.slice(2).join(" ")}`.trim(),
    say,
    progressStream: process.stderr,
    interactive: wantsInteractiveOutput(process.stderr),
    confirm: askYesNo,
  };
  try {
    const outcome = await runners[command](ctx);
    if (args.json) printJson({ command, ok: outcome.exitCode === AttendeeExit.ok, exitCode: outcome.exitCode, ...outcome.report });
    return outcome.exitCode;
  } catch (error) {
    if (error instanceof AttendeeStop) return fail(error.exitCode, error.message, error.fix);
    return fail(AttendeeExit.someImagesFailed, `Unexpected problem: ${(error as Error).message}`, [
      "Run: workshop-attendee status   and show the output to the facilitator.",
    ]);
  }
}

/**
 * The command line surface: commands, flags and help. `onCommand` receives the parsed command; main
 * executes it, and the docs test (test/docs.test.ts) parses every documented command line with a
 * handler that does nothing, so a renamed flag fails there.
 */
export function buildAttendeeCli(argv: string[], onCommand: (command: CommandName, args: GlobalArgs) => void | Promise<void>): Argv {
  const handler = (command: CommandName) => (args: unknown) => onCommand(command, args as GlobalArgs);
  return yargs(argv)
    .scriptName("workshop-attendee")
    .usage("$0 [command] --registry HOST:PORT\n\nGets the workshop's Docker images from the venue. With no command, runs setup.")
    .command("$0", "configure Docker, pull every image, verify (the default)", {}, handler("setup"))
    .command("setup", "configure Docker, pull every image, verify", {}, handler("setup"))
    .command("configure", "let Docker pull from the venue over plain HTTP (edits daemon.json, reloads Docker)", {}, handler("configure"))
    .command("pull", "pull every workshop image (venue first, then Docker Hub)", {}, handler("pull"))
    .command("verify", "check every image is present with the venue's digest", {}, handler("verify"))
    .command(["status", "doctor"], "say what is wrong and how to fix it", {}, handler("status"))
    .command("undo", "put daemon.json back as it was and reload Docker", {}, handler("undo"))
    .option("registry", { alias: "r", type: "string", array: true, description: "venue registry host:port; several (comma-separated or repeated) are spread over the attendees like mirror laptops, each failing over to the rest" })
    .option("json", { type: "boolean", default: false, description: "print one JSON document on stdout" })
    .option("yes", { alias: "y", type: "boolean", default: false, description: "do not ask before restarting Docker Desktop" })
    .option("concurrency", { type: "number", default: DEFAULT_CONCURRENCY, description: "images pulled at the same time" })
    .option("stall-timeout", {
      type: "number",
      default: DEFAULT_STALL_TIMEOUT_MS / 1000,
      description: "seconds a venue registry may stay silent mid-pull before the pull moves to the next one",
    })
    .option("fallback", { type: "boolean", default: true, description: "fall back to each image's source (Docker Hub); --no-fallback stays at the venue" })
    .option("daemon-config", { type: "string", hidden: true, description: "daemon.json to edit, whatever Docker this is" })
    .option("dockerd-pid", { type: "number", hidden: true, description: "dockerd process to send SIGHUP to" })
    .option("retry-delay-ms", { type: "number", hidden: true, default: DEFAULT_RETRY_DELAY_MS })
    .option("restart-wait", { type: "number", hidden: true, default: 180, description: "seconds to wait for Docker after a reload or restart" })
    .version(packageJson.version)
    .strict()
    .help()
    .alias("help", "h")
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false);
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = AttendeeExit.ok;
  let usageError = false;
  const parser = buildAttendeeCli(argv, async (command, args) => {
    // yargs still runs the default command after reporting an unknown argument.
    if (usageError) return;
    exitCode = await execute(command, args);
  }).fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`✖ ${message}\n  Run: workshop-attendee --help\n`);
    exitCode = AttendeeExit.usage;
    usageError = true;
  });
  await parser.parseAsync();
  return exitCode;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`✖ ${(error as Error).message}\n`);
      process.exitCode = AttendeeExit.someImagesFailed;
    },
  );
}

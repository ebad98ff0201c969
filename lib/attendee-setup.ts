/**
 * The attendee's verbs (setup, configure, pull, verify, status, undo) as one orchestrator over the
 * engine client, daemon.json, the puller and the progress display. attendee/cli.ts only parses flags
 * and calls these; every message the attendee reads is written here, and every way out has an exit
 * code (AttendeeExit) that scripts and the docs rely on.
 */
import * as fs from "fs";
import * as path from "path";
import {
  configureDaemonConfig,
  DaemonConfigInvalidError,
  DaemonConfigPermissionError,
  insecureRegistriesIn,
  prepareUndoForReload,
  readConfigureRecord,
  undoDaemonConfig,
  validateRegistryAddress,
} from "./daemon-config";
import { formatBytes } from "./byte-size";
import { guidePageFor, guideUrl } from "./attendee-guides";
import { DockerEngine, EngineInfo, EngineUnreachableError, isInsecureRegistry } from "./docker-engine";
import { applyDaemonConfig, ApplyOutcome, detectDockerEnvironment, DockerEnvironment, EnvironmentProbe } from "./docker-environment";
import { MirrorList, parseMirrorListText } from "./mirror-list";
import { machineIdentity } from "./mirror-selection";
import { createProgressDisplay, withWaitIndicator } from "./progress-display";
import {
  DEFAULT_CONCURRENCY,
  fallbackNotice,
  fetchMirrorList,
  fetchVenueLock,
  formatSummaryTable,
  ImageCheck,
  orderServingRegistries,
  planPull,
  probeRegistry,
  PullPlan,
  PullSummary,
  pullImages,
  ServingOrder,
  VenueUnreachableError,
  verifyImages,
} from "./puller";
import { readLock, VenueLock } from "./venue-lock";

/** Exit codes: documented in docs/attendee/quick-start.md. */
export const AttendeeExit = {
  ok: 0,
  someImagesFailed: 1,
  usage: 2,
  dockerNotRunning: 3,
  venueUnreachable: 4,
  permissionNeeded: 5,
  manualStepNeeded: 6,
  daemonConfigInvalid: 7,
  notEnoughDisk: 8,
} as const;
export type AttendeeExitCode = (typeof AttendeeExit)[keyof typeof AttendeeExit];

/** A stop with a reason the attendee can act on: `fix` says what to do next. */
export class AttendeeStop extends Error {
  constructor(
    readonly exitCode: AttendeeExitCode,
    message: string,
    readonly fix: string[] = [],
  ) {
    super(message);
    this.name = "AttendeeStop";
  }
}

export interface AttendeeContext {
  /**
   * Venue registries (host:port) as the person gave them; the front door of the first serves the lock
   * and the mirror list. The order pulls use is this machine's ranking (see `servingOrder`).
   */
  registries: string[];
  /** Who this machine is, for picking its mirror; defaults to WORKSHOP_MACHINE_ID or machineIdentity(). */
  machineId?: string;
  json: boolean;
  yes: boolean;
  concurrency: number;
  fallback: boolean;
  retryDelayMs: number;
  /** A venue registry silent this long mid-pull counts as down (--stall-timeout). */
  stallTimeoutMs?: number;
  /** Bound on waiting for Docker after a reload or restart. */
  restartWaitSeconds: number;
  daemonConfigOverride?: string;
  dockerdPidOverride?: number;
  probe: EnvironmentProbe;
  engine: DockerEngine;
  /** Where the last good lock file is kept for when the venue is unreachable. */
  lockCacheFile: string;
  /** How the attendee started this tool, for "run this again with sudo" messages. */
  rerunCommand: string;
  /** Narrative for people: stdout normally, stderr under --json so stdout stays one JSON document. */
  say: (line: string) => void;
  /** Where progress bars and spinners draw. */
  progressStream: NodeJS.WriteStream;
  interactive: boolean;
  confirm: (question: string) => Promise<boolean>;
}

export interface CommandOutcome {
  exitCode: AttendeeExitCode;
  report: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Shared steps
// ---------------------------------------------------------------------------------------------

function dockerNotRunning(ctx: AttendeeContext, error: EngineUnreachableError): AttendeeStop {
  if (error.permissionDenied) {
    return new AttendeeStop(AttendeeExit.permissionNeeded, `You do not have permission to use Docker (${error.endpoint.host}).`, [
      "Run: sudo usermod -aG docker $USER   then log out and back in,",
      `or run this tool with sudo: sudo ${ctx.rerunCommand}`,
    ]);
  }
  const fix =
    ctx.probe.platform === "linux"
      ? ["Start Docker: sudo systemctl start docker   (or start Docker Desktop), then run this command again."]
      : ["Start Docker Desktop and wait until it says \"Engine running\", then run this command again."];
  return new AttendeeStop(AttendeeExit.dockerNotRunning, error.message, fix);
}

async function engineInfo(ctx: AttendeeContext): Promise<EngineInfo> {
  try {
    return await ctx.engine.info();
  } catch (error) {
    if (error instanceof EngineUnreachableError) throw dockerNotRunning(ctx, error);
    throw error;
  }
}

function detect(ctx: AttendeeContext, info: EngineInfo | undefined): DockerEnvironment {
  return detectDockerEnvironment(
    ctx.probe,
    { endpoint: ctx.engine.endpoint, info, daemonConfigOverride: ctx.daemonConfigOverride, dockerdPidOverride: ctx.dockerdPidOverride },
    ctx.registries[0],
  );
}

function permissionStop(ctx: AttendeeContext, what: string, command?: string): AttendeeStop {
  if (ctx.probe.platform === "win32") {
    return new AttendeeStop(AttendeeExit.permissionNeeded, `Windows refused: ${what}.`, [
      "Open the terminal as Administrator (right-click it, \"Run as administrator\"), then run the same command again.",
    ]);
  }
  return new AttendeeStop(AttendeeExit.permissionNeeded, `This needs administrator rights: ${what}.`, [
    `Run it again with sudo: sudo ${ctx.rerunCommand}`,
    ...(command ? [`(or run only this step: ${command})`] : []),
  ]);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Where a stop that needs work by hand points: the venue serves the attendee guides (lib/guide-page.ts),
 * so the page for this system opens with no internet and shows the venue's own address.
 */
function guideLine(ctx: AttendeeContext): string {
  return `Step by step, for your system: ${guideUrl(ctx.registries[0], guidePageFor(ctx.probe.platform), "if-configure-fails")}`;
}

/**
 * Waits, bounded and announced, until the engine answers and `condition` holds on its /info.
 * Returns the last info, or undefined when the time ran out.
 */
async function waitForEngine(ctx: AttendeeContext, announce: string, condition: (info: EngineInfo) => boolean): Promise<EngineInfo | undefined> {
  const seconds = ctx.restartWaitSeconds;
  return withWaitIndicator(
    `${announce} (waiting up to ${seconds} s)`,
    ctx.progressStream,
    ctx.interactive && !ctx.json,
    async () => {
      const deadline = Date.now() + seconds * 1000;
      while (Date.now() < deadline) {
        if (await ctx.engine.ping(2_000)) {
          const info = await ctx.engine.info().catch(() => undefined);
          if (info && condition(info)) return info;
        }
        await sleep(500);
      }
      return undefined;
    },
    (info) => (info ? { ok: true, text: "Docker is answering with the new settings." } : { ok: false, text: `Docker did not come back with the new settings within ${seconds} s.` }),
  );
}

function readLockCache(file: string): VenueLock | undefined {
  try {
    return readLock(file);
  } catch {
    return undefined;
  }
}

function writeLockCache(file: string, lock: VenueLock): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(lock)}\n`);
  } catch {
    // The cache only helps when the venue is down later; failing to keep it is not worth a stop.
  }
}

/** The venue's lock file, or the one kept from the last good read when the venue does not answer. */
async function loadLock(ctx: AttendeeContext): Promise<{ lock: VenueLock; from: string; cached: boolean }> {
  try {
    const { lock, from } = await fetchVenueLock(ctx.registries);
    writeLockCache(ctx.lockCacheFile, lock);
    return { lock, from, cached: false };
  } catch (error) {
    if (!(error instanceof VenueUnreachableError)) throw error;
    const cached = readLockCache(ctx.lockCacheFile);
    if (cached && ctx.fallback) {
      ctx.say(`The venue does not answer (${error.reasons.join("; ")}); using the image list saved at ${ctx.lockCacheFile}.`);
      return { lock: cached, from: ctx.lockCacheFile, cached: true };
    }
    throw new AttendeeStop(AttendeeExit.venueUnreachable, error.message, [
      "Check that you are on the venue Wi-Fi and that the address matches the one on the projector.",
      `Test it in a browser: http://${ctx.registries[0]}/attendee/venue-lock.json`,
    ]);
  }
}

/** Replaces the machine identity that ranks the mirrors: the tests set it; any value gives a laptop another ranking. */
export const MACHINE_ID_ENV = "WORKSHOP_MACHINE_ID";

export function attendeeMachineId(env: NodeJS.ProcessEnv = process.env): string {
  return env[MACHINE_ID_ENV]?.trim() || machineIdentity();
}

export interface ServingPlan extends ServingOrder {
  /** Where the mirror list came from: its URL, the saved copy, or null when none was used. */
  mirrorListFrom: string | null;
}

/** The last good mirror list sits next to the saved lock file, for when the venue stops answering. */
export function mirrorListCacheFileFor(lockCacheFile: string): string {
  return `${lockCacheFile.replace(/\.json$/, "")}-mirrors.json`;
}

function readMirrorListCache(file: string): MirrorList | undefined {
  try {
    return parseMirrorListText(fs.readFileSync(file, "utf8"), file);
  } catch {
    return undefined;
  }
}

const servingPlans = new WeakMap<AttendeeContext, Promise<ServingPlan>>();

/**
 * The venue registries this machine pulls from, in its order, worked out once per run: setup's
 * configure, pull and verify steps must agree on them.
 */
export function servingOrder(ctx: AttendeeContext): Promise<ServingPlan> {
  let plan = servingPlans.get(ctx);
  if (!plan) {
    plan = resolveServingPlan(ctx);
    servingPlans.set(ctx, plan);
  }
  return plan;
}

async function resolveServingPlan(ctx: AttendeeContext): Promise<ServingPlan> {
  const machineId = ctx.machineId ?? attendeeMachineId();
  const venue = ctx.registries[0];
  let list: MirrorList | undefined;
  let mirrorListFrom: string | null = null;
  if (ctx.registries.length === 1) {
    const cacheFile = mirrorListCacheFileFor(ctx.lockCacheFile);
    const read = await fetchMirrorList(venue);
    if (read.kind === "found") {
      list = read.list;
      mirrorListFrom = read.url;
      writeCacheQuietly(cacheFile, `${JSON.stringify(read.list)}\n`);
    } else if (read.kind === "none") {
      // The venue says it serves alone; a list saved earlier is out of date.
      removeQuietly(cacheFile);
    } else if (read.kind === "invalid") {
      ctx.say(`Warning: ${read.problem}. Pulling from the venue (${venue}) alone; please tell the facilitator.`);
    } else {
      // No answer: the lock file step says so. A list saved earlier still names the mirrors.
      list = readMirrorListCache(cacheFile);
      if (list) {
        mirrorListFrom = cacheFile;
        ctx.say(`The venue did not send its mirror list (${read.problem}); using the one saved at ${cacheFile}.`);
      }
    }
  }
  const order = orderServingRegistries(ctx.registries, list, machineId);
  if (order.registries.length > 1) {
    const [assigned, ...rest] = order.registries;
    const whose = order.source === "mirror-list" ? `The venue has ${order.registries.length} serving laptops` : `You gave ${order.registries.length} venue registries`;
    ctx.say(`${whose}; this laptop pulls from ${assigned}, and from ${rest.join(", then ")} if that stops answering.`);
  }
  return { ...order, mirrorListFrom };
}

function servingReport(plan: ServingPlan): Record<string, unknown> {
  return { assigned: plan.assigned, registries: plan.registries, source: plan.source, mirrorListFrom: plan.mirrorListFrom };
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // A stale copy is only read when the venue does not answer, and then it is the best there is.
  }
}

function writeCacheQuietly(file: string, text: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  } catch {
    // Only useful when the venue is down later; not worth a stop.
  }
}

/**
 * Asks every serving registry for /v2/ at once. One serving laptop down is the facilitator's to fix,
 * since pulls fail over to the others (`someAnswer`); only none answering stops the attendee.
 */
async function probeServingRegistries(registries: string[]): Promise<{ problems: Array<string | undefined>; someAnswer: boolean }> {
  const problems = await Promise.all(registries.map((registry) => probeRegistry(registry)));
  return { problems, someAnswer: problems.some((problem) => problem === undefined) };
}

/** Makes Docker read daemon.json (reload, restart, or steps for the person) and says which. */
async function applyAndTell(ctx: AttendeeContext, env: DockerEnvironment): Promise<Exclude<ApplyOutcome, { kind: "permission-needed" }>> {
  const outcome = await applyDaemonConfig(env, ctx.probe);
  if (outcome.kind === "permission-needed") throw permissionStop(ctx, outcome.detail, outcome.command);
  if (outcome.kind === "needs-person") {
    ctx.say("Please restart Docker now:");
    for (const step of outcome.steps) ctx.say(`  ${step}`);
  } else {
    ctx.say(outcome.kind === "reloaded" ? `Reloaded Docker (${outcome.how}); running containers keep running.` : `Restarting Docker (${outcome.how}).`);
  }
  return outcome;
}

async function enginePlatform(ctx: AttendeeContext): Promise<string> {
  const version = await ctx.engine.version();
  const arch = version.Arch === "arm" ? "arm/v7" : version.Arch;
  return `${version.Os}/${arch}`;
}

/** Unpacked images take roughly 2 to 3 times their download; ask for 2.5 times the lock's bytes. */
export const DISK_FACTOR = 2.5;

export function diskShortfall(freeBytes: number | undefined, downloadBytes: number): { neededBytes: number; freeBytes: number } | undefined {
  const neededBytes = Math.ceil(downloadBytes * DISK_FACTOR);
  if (freeBytes === undefined || freeBytes >= neededBytes) return undefined;
  return { neededBytes, freeBytes };
}

function freeBytesFor(ctx: AttendeeContext, info: EngineInfo): { bytes?: number; where: string } {
  // A local Linux engine stores images under DockerRootDir; Docker Desktop's VM disk lives in the home folder.
  const local = ctx.engine.endpoint.transport.kind !== "tcp" && ctx.probe.platform === "linux" && !/docker desktop/i.test(info.OperatingSystem ?? "");
  const where = local && info.DockerRootDir && fs.existsSync(info.DockerRootDir) ? info.DockerRootDir : ctx.probe.homeDir;
  try {
    const stats = fs.statfsSync(where);
    return { bytes: stats.bavail * stats.bsize, where };
  } catch {
    return { bytes: undefined, where };
  }
}

// ---------------------------------------------------------------------------------------------
// configure
// ---------------------------------------------------------------------------------------------

export async function runConfigure(ctx: AttendeeContext): Promise<CommandOutcome> {
  const info = await engineInfo(ctx);
  const serving = await servingOrder(ctx);
  // Failover pulls from any of them, so Docker must talk plain HTTP to every one.
  const registries = serving.registries;
  const env = detect(ctx, info);
  ctx.say(`Docker: ${env.label}${env.daemonConfigPath ? `, settings file ${env.daemonConfigPath}` : ""}.`);
  const report: Record<string, unknown> = { flavour: env.flavour, daemonConfig: env.daemonConfigPath ?? null, registries, serving: servingReport(serving) };

  const missing = registries.filter((registry) => !isInsecureRegistry(info, registry));
  if (missing.length === 0) {
    const byDefault = registries.every((registry) => isCoveredByDefault(info, registry));
    ctx.say(`Docker already talks plain HTTP to ${registries.join(", ")}${byDefault ? " (an address range Docker trusts by default)" : ""}; nothing to change.`);
    return { exitCode: AttendeeExit.ok, report: { ...report, changed: false, applied: "not needed" } };
  }

  if (env.apply.kind === "manual" || !env.daemonConfigPath) {
    const steps = env.apply.kind === "manual" ? [...env.apply.steps] : [];
    const others = registries.filter((registry) => registry.toLowerCase() !== ctx.registries[0].toLowerCase());
    if (others.length > 0) steps.push(`Add the venue's other serving laptops the same way: ${others.join(", ")}.`);
    throw new AttendeeStop(AttendeeExit.manualStepNeeded, `This tool does not change the settings of ${env.label} itself.`, [...steps, guideLine(ctx)]);
  }

  if (!env.keepsContainersRunning && !ctx.yes) {
    const agreed = await ctx.confirm(`${env.label} must restart to use the venue; running containers will stop and start again. Continue? [Y/n] `);
    if (!agreed) {
      throw new AttendeeStop(AttendeeExit.usage, "Stopped: nothing was changed.", [`Run it again with --yes when Docker may restart.`]);
    }
  }

  let result;
  try {
    result = configureDaemonConfig(env.daemonConfigPath, registries);
  } catch (error) {
    if (error instanceof DaemonConfigPermissionError) throw permissionStop(ctx, `${error.operation} ${error.file}`);
    if (error instanceof DaemonConfigInvalidError) {
      throw new AttendeeStop(AttendeeExit.daemonConfigInvalid, error.message, [
        error.line !== undefined ? `Open ${error.file}, go to line ${error.line}, column ${error.column}, and fix the JSON there.` : `Open ${error.file} and fix it.`,
        guideLine(ctx),
      ]);
    }
    throw error;
  }
  if (result.changed) {
    ctx.say(`Added ${result.added.join(", ")} to "insecure-registries" in ${result.file}${result.backupFile ? ` (backup: ${result.backupFile})` : " (new file)"}.`);
    if (result.droppedBom) ctx.say("Removed the byte-order mark at the start of the file: Docker refuses files that start with one.");
  } else {
    ctx.say(`${result.file} already lists ${registries.join(", ")}; Docker has not read it yet.`);
  }
  report.changed = result.changed;
  report.added = result.added;
  report.backup = result.backupFile ?? null;

  const outcome = await applyAndTell(ctx, env);
  report.applied = outcome.kind === "needs-person" ? "waiting for a restart by hand" : outcome.how;
  const after = await waitForEngine(ctx, outcome.kind === "reloaded" ? "Waiting for Docker to read the new settings" : "Waiting for Docker to start again", (i) =>
    registries.every((registry) => isInsecureRegistry(i, registry)),
  );
  if (!after) {
    throw new AttendeeStop(AttendeeExit.manualStepNeeded, `Docker does not list ${registries.join(", ")} as insecure yet.`, [
      env.apply.kind === "desktop-restart" ? "Restart Docker Desktop by hand (whale menu > Restart), then run: workshop-attendee verify" : "Restart Docker, then run: workshop-attendee verify",
      guideLine(ctx),
    ]);
  }
  ctx.say(`Docker now lists ${registries.join(", ")} under "Insecure Registries".`);
  return { exitCode: AttendeeExit.ok, report };
}

function isCoveredByDefault(info: EngineInfo, registry: string): boolean {
  return isInsecureRegistry({ RegistryConfig: { InsecureRegistryCIDRs: info.RegistryConfig?.InsecureRegistryCIDRs } }, registry);
}

// ---------------------------------------------------------------------------------------------
// pull
// ---------------------------------------------------------------------------------------------

async function pullWithLock(ctx: AttendeeContext, lock: VenueLock, info: EngineInfo): Promise<{ plan: PullPlan; summary: PullSummary }> {
  const { registries } = await servingOrder(ctx);
  const plan = planPull(lock, await enginePlatform(ctx));
  for (const image of plan.unavailable) ctx.say(`The venue has no ${plan.platform} build of ${image.target}; it is skipped.`);

  const free = freeBytesFor(ctx, info);
  const shortfall = diskShortfall(free.bytes, plan.totalBytes);
  if (shortfall) {
    throw new AttendeeStop(
      AttendeeExit.notEnoughDisk,
      `Not enough disk space: the workshop images need about ${formatBytes(shortfall.neededBytes)} once unpacked (${formatBytes(plan.totalBytes)} to download), and ${free.where} has ${formatBytes(shortfall.freeBytes)} free.`,
      ["Free some space (for example: docker system prune), then run this command again."],
    );
  }
  for (const registry of registries) {
    if (!isInsecureRegistry(info, registry)) {
      ctx.say(`Docker does not talk plain HTTP to ${registry} yet, so it cannot pull from the venue. Run: workshop-attendee configure`);
    }
  }
  ctx.say(`Pulling ${plan.images.length} images (${formatBytes(plan.totalBytes)}) for ${plan.platform}, ${ctx.concurrency} at a time.`);
  const display = createProgressDisplay(plan, ctx.progressStream, ctx.interactive && !ctx.json);
  let summary: PullSummary;
  try {
    summary = await pullImages(plan, {
      engine: ctx.engine,
      registries,
      concurrency: ctx.concurrency,
      fallback: ctx.fallback,
      retryDelayMs: ctx.retryDelayMs,
      stallTimeoutMs: ctx.stallTimeoutMs,
      onEvent: (event) => display.onEvent(event),
    });
  } finally {
    display.stop();
  }
  ctx.say("");
  for (const line of formatSummaryTable(summary).split("\n")) ctx.say(line);
  const notice = fallbackNotice(summary);
  if (notice) {
    ctx.say("");
    for (const line of notice.split("\n")) ctx.say(line);
  }
  for (const failure of summary.failed) ctx.say(`Could not get ${failure.workshopName}: ${failure.error}`);
  for (const advice of new Set(summary.failed.flatMap((failure) => failure.advice ?? []))) ctx.say(advice);
  return { plan, summary };
}

function summaryReport(summary: PullSummary): Record<string, unknown> {
  return {
    platform: summary.platform,
    images: summary.images,
    failed: summary.failed,
    fallbacks: summary.images.filter((i) => i.origin === "fallback").map((i) => ({ image: i.workshopName, from: i.reference, reason: i.fallbackReason })),
    totalBytes: summary.totalBytes,
    seconds: Number(summary.seconds.toFixed(3)),
    megabytesPerSecond: Number(summary.megabytesPerSecond.toFixed(2)),
  };
}

export async function runPull(ctx: AttendeeContext): Promise<CommandOutcome> {
  const info = await engineInfo(ctx);
  const { lock, from, cached } = await loadLock(ctx);
  const serving = await servingOrder(ctx);
  const { summary } = await pullWithLock(ctx, lock, info);
  return {
    exitCode: summary.failed.length > 0 ? AttendeeExit.someImagesFailed : AttendeeExit.ok,
    report: { lockFrom: from, lockCached: cached, serving: servingReport(serving), pull: summaryReport(summary) },
  };
}

// ---------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------

interface VerifyResult {
  exitCode: AttendeeExitCode;
  report: Record<string, unknown>;
}

async function verifyWith(ctx: AttendeeContext, lock: VenueLock, info: EngineInfo, checkVenue: boolean): Promise<VerifyResult> {
  const plan = planPull(lock, await enginePlatform(ctx));
  const checks: ImageCheck[] = await verifyImages(ctx.engine, plan);
  let exitCode: AttendeeExitCode = AttendeeExit.ok;
  for (const check of checks) {
    if (check.status === "ok") ctx.say(`ok       ${check.workshopName} (${check.digest.slice(0, 19)}…)`);
    else if (check.status === "missing") ctx.say(`MISSING  ${check.workshopName}: run workshop-attendee pull`);
    else ctx.say(`WRONG    ${check.workshopName}: its digest is not the venue's; run workshop-attendee pull`);
  }
  if (checks.some((c) => c.status !== "ok")) exitCode = AttendeeExit.someImagesFailed;
  const venue: Array<Record<string, unknown>> = [];
  if (checkVenue) {
    const { registries } = await servingOrder(ctx);
    const { problems, someAnswer } = await probeServingRegistries(registries);
    registries.forEach((registry, i) => {
      const insecure = isInsecureRegistry(info, registry);
      const problem = problems[i];
      venue.push({ registry, insecure, answers: problem === undefined, problem: problem ?? null });
      ctx.say(insecure ? `ok       Docker lists ${registry} as an insecure (plain HTTP) registry` : `PROBLEM  Docker does not list ${registry} as insecure: run workshop-attendee configure`);
      if (problem === undefined) ctx.say(`ok       the venue registry ${registry} answers /v2/`);
      else if (someAnswer) ctx.say(`warning  the venue registry ${registry} does not answer /v2/: ${problem}; pulls fail over to the others (tell the facilitator)`);
      else ctx.say(`PROBLEM  the venue registry ${registry} does not answer /v2/: ${problem}`);
      if (exitCode === AttendeeExit.ok && !insecure) exitCode = AttendeeExit.manualStepNeeded;
    });
    if (exitCode === AttendeeExit.ok && !someAnswer) exitCode = AttendeeExit.venueUnreachable;
  }
  ctx.say(exitCode === AttendeeExit.ok ? `All ${checks.length} workshop images are in place.` : "Some checks failed; see above.");
  return { exitCode, report: { images: checks, venue } };
}

export async function runVerify(ctx: AttendeeContext): Promise<CommandOutcome> {
  const info = await engineInfo(ctx);
  const { lock } = await loadLock(ctx);
  const serving = await servingOrder(ctx);
  const result = await verifyWith(ctx, lock, info, true);
  return { exitCode: result.exitCode, report: { serving: servingReport(serving), verify: result.report } };
}

// ---------------------------------------------------------------------------------------------
// setup (the default): configure, pull, verify
// ---------------------------------------------------------------------------------------------

export async function runSetup(ctx: AttendeeContext): Promise<CommandOutcome> {
  await engineInfo(ctx);
  // Reading the lock first proves the venue answers before Docker is touched.
  const { lock, cached } = await loadLock(ctx);
  const report: Record<string, unknown> = { serving: servingReport(await servingOrder(ctx)) };
  if (!cached) {
    ctx.say("Step 1 of 3: let Docker use the venue registry");
    const configured = await runConfigure(ctx);
    report.configure = configured.report;
  } else {
    ctx.say("Step 1 of 3: skipped (the venue does not answer, so Docker's settings stay as they are)");
  }
  ctx.say("Step 2 of 3: pull the workshop images");
  const { summary } = await pullWithLock(ctx, lock, await engineInfo(ctx));
  report.pull = summaryReport(summary);
  ctx.say("Step 3 of 3: check the images");
  const usedVenue = summary.images.some((image) => image.origin === "venue");
  const verified = await verifyWith(ctx, lock, await engineInfo(ctx), usedVenue && !cached);
  report.verify = verified.report;
  const exitCode = summary.failed.length > 0 ? AttendeeExit.someImagesFailed : verified.exitCode;
  if (exitCode === AttendeeExit.ok) ctx.say(`Ready. Check with: docker images | grep workshop`);
  return { exitCode, report };
}

// ---------------------------------------------------------------------------------------------
// status (doctor)
// ---------------------------------------------------------------------------------------------

interface DoctorCheck {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function runStatus(ctx: AttendeeContext): Promise<CommandOutcome> {
  const checks: DoctorCheck[] = [];
  let exitCode: AttendeeExitCode = AttendeeExit.ok;
  const fail = (code: AttendeeExitCode) => {
    if (exitCode === AttendeeExit.ok) exitCode = code;
  };
  let info: EngineInfo | undefined;
  try {
    info = await ctx.engine.info();
    checks.push({ check: "docker", ok: true, detail: `Docker ${info.ServerVersion ?? "?"} answers at ${ctx.engine.endpoint.host} (${ctx.engine.endpoint.origin})` });
  } catch (error) {
    if (!(error instanceof EngineUnreachableError)) throw error;
    const stop = dockerNotRunning(ctx, error);
    checks.push({ check: "docker", ok: false, detail: stop.message, fix: stop.fix.join(" ") });
    fail(stop.exitCode);
  }
  const env = detect(ctx, info);
  checks.push({ check: "flavour", ok: true, detail: `${env.label}${env.daemonConfigPath ? `; settings file ${env.daemonConfigPath}` : ""}` });
  if (env.daemonConfigPath) {
    try {
      const text = fs.existsSync(env.daemonConfigPath) ? fs.readFileSync(env.daemonConfigPath, "utf8") : undefined;
      const listed = insecureRegistriesIn(text, env.daemonConfigPath);
      const record = readConfigureRecord(env.daemonConfigPath);
      checks.push({
        check: "daemon.json",
        ok: true,
        detail: `${text === undefined ? "does not exist" : `lists ${listed.length ? listed.join(", ") : "no insecure registries"}`}${record ? `; configured by this tool on ${record.configuredAt} (undo available)` : ""}`,
      });
    } catch (error) {
      const fix = error instanceof DaemonConfigInvalidError && error.line !== undefined ? `Fix line ${error.line}, column ${error.column} of ${error.file}.` : undefined;
      checks.push({ check: "daemon.json", ok: false, detail: (error as Error).message, fix });
      fail(error instanceof DaemonConfigInvalidError ? AttendeeExit.daemonConfigInvalid : AttendeeExit.permissionNeeded);
    }
  }
  const serving = await servingOrder(ctx);
  if (serving.registries.length > 1) {
    const [assigned, ...rest] = serving.registries;
    checks.push({ check: "mirror", ok: true, detail: `this laptop pulls from ${assigned}; then ${rest.join(", then ")} if it stops answering` });
  }
  if (info) {
    for (const registry of serving.registries) {
      const insecure = isInsecureRegistry(info, registry);
      checks.push({ check: `insecure ${registry}`, ok: insecure, detail: insecure ? "Docker talks plain HTTP to the venue" : "Docker does not list the venue as insecure", fix: insecure ? undefined : "Run: workshop-attendee configure" });
      if (!insecure) fail(AttendeeExit.manualStepNeeded);
    }
  }
  let lock: VenueLock | undefined;
  const { problems, someAnswer } = await probeServingRegistries(serving.registries);
  serving.registries.forEach((registry, i) => {
    const problem = problems[i];
    const fix = problem === undefined ? undefined : someAnswer ? "Tell the facilitator; pulls fail over to the others meanwhile." : "Check the venue Wi-Fi and the address on the projector.";
    checks.push({ check: `venue ${registry}`, ok: problem === undefined, detail: problem === undefined ? "answers /v2/" : problem, fix });
  });
  if (!someAnswer) fail(AttendeeExit.venueUnreachable);
  try {
    lock = (await fetchVenueLock(ctx.registries)).lock;
  } catch {
    lock = readLockCache(ctx.lockCacheFile);
  }
  if (info && lock) {
    const plan = planPull(lock, await enginePlatform(ctx));
    const free = freeBytesFor(ctx, info);
    const shortfall = diskShortfall(free.bytes, plan.totalBytes);
    checks.push({
      check: "disk",
      ok: !shortfall,
      detail: `${free.bytes === undefined ? "unknown" : formatBytes(free.bytes)} free at ${free.where}; the images need about ${formatBytes(Math.ceil(plan.totalBytes * DISK_FACTOR))}`,
      fix: shortfall ? "Free some space, for example: docker system prune" : undefined,
    });
    if (shortfall) fail(AttendeeExit.notEnoughDisk);
    const images = await verifyImages(ctx.engine, plan);
    const good = images.filter((c) => c.status === "ok").length;
    checks.push({ check: "images", ok: good === images.length, detail: `${good} of ${images.length} workshop images in place`, fix: good === images.length ? undefined : "Run: workshop-attendee pull" });
    if (good !== images.length) fail(AttendeeExit.someImagesFailed);
  }
  for (const check of checks) {
    ctx.say(`${check.ok ? "ok     " : "PROBLEM"}  ${check.check}: ${check.detail}`);
    if (check.fix) ctx.say(`         fix: ${check.fix}`);
  }
  return { exitCode, report: { serving: servingReport(serving), checks } };
}

// ---------------------------------------------------------------------------------------------
// undo
// ---------------------------------------------------------------------------------------------

export async function runUndo(ctx: AttendeeContext): Promise<CommandOutcome> {
  const info = await engineInfo(ctx);
  const env = detect(ctx, info);
  if (!env.daemonConfigPath) {
    ctx.say(`This tool did not change the settings of ${env.label}; nothing to undo.`);
    return { exitCode: AttendeeExit.ok, report: { undo: "nothing-to-undo" } };
  }
  const record = readConfigureRecord(env.daemonConfigPath);
  const removed = record?.added ?? [];
  const forgotten = (i: EngineInfo) =>
    removed.every((registry) => i.RegistryConfig?.IndexConfigs?.[registry]?.Secure !== false || isCoveredByDefault(i, registry));
  let result;
  try {
    // A reload keeps settings whose key is missing from the file: clear our entries with a reload first.
    if (env.keepsContainersRunning && prepareUndoForReload(env.daemonConfigPath)) {
      const outcome = await applyDaemonConfig(env, ctx.probe);
      if (outcome.kind === "permission-needed") throw permissionStop(ctx, outcome.detail, outcome.command);
      if (outcome.kind === "reloaded" && !(await waitForEngine(ctx, "Waiting for Docker to forget the venue", forgotten))) {
        throw new AttendeeStop(AttendeeExit.manualStepNeeded, "Docker did not drop the venue from its settings after a reload.", ["Restart Docker by hand."]);
      }
    }
    result = undoDaemonConfig(env.daemonConfigPath);
  } catch (error) {
    if (error instanceof DaemonConfigPermissionError) throw permissionStop(ctx, `${error.operation} ${error.file}`);
    if (error instanceof DaemonConfigInvalidError) throw new AttendeeStop(AttendeeExit.daemonConfigInvalid, error.message);
    throw error;
  }
  if (result.outcome === "nothing-to-undo") {
    ctx.say(`Nothing to undo: ${env.daemonConfigPath} was not changed by this tool.`);
    return { exitCode: AttendeeExit.ok, report: { undo: result.outcome, file: result.file } };
  }
  if (result.outcome === "restored") ctx.say(`Restored ${result.file} exactly as it was (from ${result.from}).`);
  if (result.outcome === "removed-file") ctx.say(`Removed ${result.file}, which this tool had created.`);
  if (result.outcome === "removed-entries") ctx.say(`${result.file} was edited since; took out only ${result.removed.join(", ") || "nothing"} and kept the rest.`);

  if (!env.keepsContainersRunning && !ctx.yes) {
    const agreed = await ctx.confirm(`${env.label} must restart to forget the venue; running containers will stop and start again. Restart now? [Y/n] `);
    if (!agreed) {
      ctx.say("Docker will use its old settings the next time it restarts.");
      return { exitCode: AttendeeExit.ok, report: { undo: result.outcome, file: result.file, applied: "later" } };
    }
  }
  const outcome = await applyAndTell(ctx, env);
  const after = await waitForEngine(ctx, "Waiting for Docker to read its old settings", forgotten);
  if (!after) {
    throw new AttendeeStop(AttendeeExit.manualStepNeeded, "The settings file is restored, but Docker has not re-read it yet.", ["Restart Docker by hand."]);
  }
  ctx.say("Docker is back to its own settings.");
  return { exitCode: AttendeeExit.ok, report: { undo: result.outcome, file: result.file, applied: outcome.kind === "needs-person" ? "by hand" : outcome.how } };
}

export function parseRegistryList(values: string[]): string[] {
  const registries = values.flatMap((value) => value.split(",")).map((value) => value.trim()).filter(Boolean);
  return [...new Set(registries.map(validateRegistryAddress))];
}

export { DEFAULT_CONCURRENCY };

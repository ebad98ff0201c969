/**
 * What the attendee watches while images arrive. On a terminal: a bar per image and one overall, in
 * bytes. Without a terminal (CI logs, pipes) or with NO_COLOR: one plain line per event, so a log
 * reads as a story rather than as a smear of carriage returns. Waits get a spinner on a terminal and
 * a single announcing line elsewhere.
 */
import * as cliProgress from "cli-progress";
import ora from "ora";
import { formatBytes } from "./byte-size";
import { PullEvent, PullPlan, waitMinutes } from "./puller";

/** What an attendee reads while an image waits on Docker: what happened, what happens next, what to do. */
export function describeWait(event: Extract<PullEvent, { type: "image-waiting" }>): string {
  return (
    "Docker is still holding a download from a venue registry that stopped answering, and this image needs the same layer. " +
    `It waits for Docker to let go (usually when the connection times out) and then pulls from elsewhere, for up to ${waitMinutes(event.waitMs)} min. ` +
    "Stuck for longer? Restart Docker and run the same command again: images already pulled stay."
  );
}

/** Bars and spinners only on a real terminal, and never when NO_COLOR or TERM=dumb ask for plain text. */
export function wantsInteractiveOutput(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!stream.isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return env.TERM !== "dumb";
}

export interface ProgressDisplay {
  onEvent(event: PullEvent): void;
  stop(): void;
}

function label(plan: PullPlan, index: number): string {
  return `[${index + 1}/${plan.images.length}] ${plan.images[index].workshopName}`;
}

/** One line per event; progress lines only at 25 % steps so a log stays short. */
export class LineProgressDisplay implements ProgressDisplay {
  private readonly reportedQuarter = new Map<number, number>();

  constructor(
    private readonly plan: PullPlan,
    private readonly write: (line: string) => void,
  ) {}

  onEvent(event: PullEvent): void {
    switch (event.type) {
      case "image-start":
        this.reportedQuarter.set(event.index, 0);
        this.write(
          `${label(this.plan, event.index)}: pulling ${formatBytes(event.bytes)} from ${event.origin === "venue" ? "the venue" : "the internet"} (${event.reference})${event.attempt > 1 ? `, attempt ${event.attempt}` : ""}`,
        );
        break;
      case "image-progress": {
        if (event.totalBytes === 0) break;
        const quarter = Math.floor((event.doneBytes / event.totalBytes) * 4);
        if (quarter >= 1 && quarter <= 3 && quarter > (this.reportedQuarter.get(event.index) ?? 0)) {
          this.reportedQuarter.set(event.index, quarter);
          this.write(`${label(this.plan, event.index)}: ${quarter * 25}% (${formatBytes(event.doneBytes)} of ${formatBytes(event.totalBytes)})`);
        }
        break;
      }
      case "attempt-failed":
        this.write(
          `${label(this.plan, event.index)}: attempt ${event.attempt} failed: ${event.error}${event.retryInMs !== undefined ? `; trying again in ${(event.retryInMs / 1000).toFixed(1)} s` : ""}`,
        );
        break;
      case "registry-down":
        this.write(`The venue registry ${event.registry} is not answering (${event.reason}); the next images skip it`);
        break;
      case "image-waiting":
        this.write(`${label(this.plan, event.index)}: ${describeWait(event)}`);
        break;
      case "image-fallback":
        this.write(`${label(this.plan, event.index)}: the venue could not provide it, falling back to the internet`);
        break;
      case "image-done":
        this.write(
          `${label(this.plan, event.index)}: done, ${formatBytes(event.result.bytes)} in ${event.result.seconds.toFixed(1)} s from ${event.result.origin === "venue" ? "the venue" : "the internet"}`,
        );
        break;
      case "image-failed":
        this.write(`${label(this.plan, event.index)}: FAILED: ${event.error}`);
        break;
    }
  }

  stop(): void {
    // Lines are already written.
  }
}

/** Bars per image plus an overall bar, in bytes; notices are printed above the bars. */
export class BarProgressDisplay implements ProgressDisplay {
  private readonly multibar: cliProgress.MultiBar;
  private readonly bars: cliProgress.SingleBar[];
  private readonly overall: cliProgress.SingleBar;
  private readonly done: number[];

  constructor(
    private readonly plan: PullPlan,
    stream: NodeJS.WriteStream,
  ) {
    const width = Math.min(40, Math.max(...plan.images.map((image) => image.workshopName.length), 7));
    this.multibar = new cliProgress.MultiBar(
      {
        stream,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 24,
        format: (options, params, payload: { name: string; state: string }) => {
          const complete = Math.round(params.progress * (options.barsize ?? 24));
          const bar = `${"█".repeat(complete)}${"░".repeat((options.barsize ?? 24) - complete)}`;
          return `${payload.name.padEnd(width).slice(0, width)} ${bar} ${formatBytes(params.value).padStart(8)} / ${formatBytes(params.total).padEnd(8)} ${payload.state}`;
        },
      },
      cliProgress.Presets.shades_grey,
    );
    this.done = plan.images.map(() => 0);
    this.bars = plan.images.map((image) => this.multibar.create(Math.max(image.bytes, 1), 0, { name: image.workshopName, state: "waiting" }));
    const total = plan.images.reduce((sum, image) => sum + image.bytes, 0);
    this.overall = this.multibar.create(Math.max(total, 1), 0, { name: "overall", state: "" });
  }

  private updateOverall(): void {
    this.overall.update(this.done.reduce((a, b) => a + b, 0));
  }

  onEvent(event: PullEvent): void {
    switch (event.type) {
      case "image-start":
        this.done[event.index] = 0;
        this.bars[event.index].update(0, { state: event.origin === "venue" ? (event.attempt > 1 ? `retry ${event.attempt}` : "venue") : "internet" });
        this.updateOverall();
        break;
      case "image-progress":
        this.done[event.index] = event.doneBytes;
        this.bars[event.index].update(event.doneBytes);
        this.updateOverall();
        break;
      case "attempt-failed":
        this.multibar.log(`${this.plan.images[event.index].workshopName}: attempt ${event.attempt} failed: ${event.error}\n`);
        break;
      case "registry-down":
        this.multibar.log(`The venue registry ${event.registry} is not answering (${event.reason}); the next images skip it\n`);
        break;
      case "image-waiting":
        this.bars[event.index].update({ state: "waiting" });
        this.multibar.log(`${this.plan.images[event.index].workshopName}: ${describeWait(event)}\n`);
        break;
      case "image-fallback":
        this.bars[event.index].update({ state: "internet" });
        break;
      case "image-done":
        this.bars[event.index].update(event.result.bytes, { state: event.result.origin === "venue" ? "done" : "done (internet)" });
        break;
      case "image-failed":
        this.bars[event.index].update({ state: "FAILED" });
        break;
    }
  }

  stop(): void {
    this.multibar.stop();
  }
}

export function createProgressDisplay(plan: PullPlan, stream: NodeJS.WriteStream, interactive: boolean): ProgressDisplay {
  return interactive ? new BarProgressDisplay(plan, stream) : new LineProgressDisplay(plan, (line) => stream.write(`${line}\n`));
}

/**
 * Runs a bounded wait with the announcement the person needs ("up to 3 minutes"): a spinner on a
 * terminal, one line before and one after elsewhere.
 */
export async function withWaitIndicator<T>(
  text: string,
  stream: NodeJS.WriteStream,
  interactive: boolean,
  work: () => Promise<T>,
  describeResult: (result: T) => { ok: boolean; text: string },
): Promise<T> {
  if (interactive) {
    const spinner = ora({ text, stream }).start();
    try {
      const result = await work();
      const outcome = describeResult(result);
      if (outcome.ok) spinner.succeed(outcome.text);
      else spinner.fail(outcome.text);
      return result;
    } catch (error) {
      spinner.fail((error as Error).message);
      throw error;
    }
  }
  stream.write(`${text}\n`);
  const result = await work();
  stream.write(`${describeResult(result).text}\n`);
  return result;
}

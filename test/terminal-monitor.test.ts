import { expect } from "chai";
import * as path from "path";
import { PassThrough } from "stream";
import { RunningMonitor, startMonitor } from "../lib/monitor";
import { formatStatusLine, formatStatusScreen, runTerminalMonitor, statusUrlOf } from "../lib/terminal-monitor";
import { freePort, makeTempDir } from "./support/services";

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  return { stream, text: () => text };
}

describe("terminal monitor", () => {
  let monitor: RunningMonitor;
  let work: string;

  before(async () => {
    // A real monitor of a venue that is not there yet: no lock, no log, nothing answering.
    work = makeTempDir("terminal-monitor");
    monitor = await startMonitor({
      listen: "127.0.0.1:0",
      lockFile: path.join(work, "venue-lock.json"),
      accessLogFile: path.join(work, "access.json"),
      replicaUrls: [`http://127.0.0.1:${await freePort()}`],
      lanAddresses: ["192.168.1.20:5000"],
      refreshIntervalMs: 60_000,
    });
  });
  after(() => monitor.close());

  it("finds /api/status under the venue's address", () => {
    expect(statusUrlOf("http://127.0.0.1:5000/")).to.equal("http://127.0.0.1:5000/api/status");
    expect(statusUrlOf("http://127.0.0.1:5000/api/status")).to.equal("http://127.0.0.1:5000/api/status");
  });

  it("prints one line per refresh when the output is not a terminal", async () => {
    const out = collect();
    await runTerminalMonitor({ url: monitor.url, intervalMs: 50, maxRefreshes: 2, output: out.stream, interactive: false });
    const lines = out.text().split("\n").filter(Boolean);
    expect(lines).to.have.length(2);
    for (const line of lines) {
      expect(line).to.match(
        /^\d\d:\d\d:\d\d \| images 0\/0 \| downloads \? \| machines 0 \(0 in 5 min\) \| served 0 B \| 0 B\/s \| replicas 0\/1 up \| 3 problem\(s\)$/,
      );
    }
    expect(out.text()).not.to.contain("\x1b[");
  });

  it("redraws in place on a terminal, with what is wrong and what to do", async () => {
    const out = collect();
    await runTerminalMonitor({ url: monitor.url, intervalMs: 50, maxRefreshes: 2, output: out.stream, interactive: true });
    const text = out.text();
    expect(text.startsWith("\x1b[?25l\x1b[2J\x1b[H")).to.equal(true);
    expect(text.split("\x1b[H")).to.have.length(3);
    expect(text.endsWith("\x1b[?25h")).to.equal(true);
    const screen = formatStatusScreen(monitor.status(), 400);
    expect(screen).to.include("  http://192.168.1.20:5000   npx -y http://192.168.1.20:5000/attendee/workshop-attendee.tgz");
    expect(screen).to.include(`  ! The lock file ${path.join(work, "venue-lock.json")} does not exist yet.`);
    expect(screen).to.include("    The stack writes it after mirroring (`venue verify`). Run `pulumi up` and watch for mirror errors.");
    expect(formatStatusScreen(monitor.status(), 30).every((line) => line.length <= 30)).to.equal(true);
  });

  it("keeps going and says what to do when the monitor does not answer", async () => {
    const port = await freePort();
    const out = collect();
    await runTerminalMonitor({ url: `http://127.0.0.1:${port}`, intervalMs: 10, maxRefreshes: 1, output: out.stream, interactive: false });
    expect(out.text()).to.match(
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d \\| The monitor at http://127\\.0\\.0\\.1:${port}/api/status does not answer \\(connection refused \\(nothing listening there\\)\\)\\. Is the stack up\\? Run \`pulumi up\`, or check \`docker ps\` for venue-monitor\\.\\n$`,
      ),
    );
  });

  it("shows every mirror laptop, healthy or down, on the screen and in the line", async () => {
    const closed = await freePort();
    const withMirrors = await startMonitor({
      listen: "127.0.0.1:0",
      lockFile: path.join(work, "venue-lock.json"),
      accessLogFile: path.join(work, "access.json"),
      replicaUrls: [],
      lanAddresses: ["192.168.1.20:5000"],
      mirrors: [`127.0.0.1:${closed}`],
      refreshIntervalMs: 60_000,
      mirrorTimeoutMs: 1_000,
    });
    try {
      // A real probe of a mirror laptop that is not there, then the same with one that answers.
      const measured = await withMirrors.refresh();
      const down = measured.mirrors[0];
      expect(down).to.include({ address: `127.0.0.1:${closed}`, healthy: false });
      const up = { address: "192.168.1.21:5000", healthy: true, problem: null, throughputBytesPerSecond: 12_300_000, activeDownloads: 4 };
      const status = { ...measured, generatedAt: "2025-05-20T09:15:02.000Z", problems: [], mirrors: [up, down] };
      const screen = formatStatusScreen(status, 200);
      const first = screen.findIndex((line) => line.startsWith("  Mirror laptops"));
      expect(screen.slice(first, first + 2)).to.deep.equal([
        "  Mirror laptops          192.168.1.21:5000 ok, 12.3 MB/s, 4 downloads",
        `                          127.0.0.1:${closed} DOWN: ${down.problem}`,
      ]);
      expect(formatStatusLine(status)).to.contain("| mirror laptops 1/2 up |");
    } finally {
      await withMirrors.close();
    }
  });

  it("formats the one-line figures exactly", () => {
    const status = monitor.status();
    expect(formatStatusLine({ ...status, generatedAt: "2025-05-20T09:15:02.000Z", problems: [] })).to.equal(
      "09:15:02 | images 0/0 | downloads ? | machines 0 (0 in 5 min) | served 0 B | 0 B/s | replicas 0/1 up | all good",
    );
  });
});

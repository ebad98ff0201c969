/**
 * How fast the monitor reads the front door's access log, against plain JSON.parse of the same
 * lines measured in the same run. A 700-attendee workshop writes roughly 700 x 20 images x ~8
 * requests = 112,000 lines; the monitor reads the whole log at start-up.
 *
 * Run: node -r ts-node/register/transpile-only bench/access-log-bench.ts
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AccessLogStats, AccessLogTail } from "../lib/access-log";

const LINES = 200_000;

function makeLines(): string[] {
  const lines: string[] = [];
  const start = Date.parse("2025-05-20T09:00:00Z");
  for (let i = 0; i < LINES; i++) {
    const blob = i % 4 !== 0;
    const repository = `workshop/image-${i % 20}`;
    const reference = blob ? `sha256:${(i % 997).toString(16).padStart(64, "0")}` : "1.0";
    lines.push(
      JSON.stringify({
        time: new Date(start + i * 20).toISOString().replace(/\.\d{3}Z$/, "+00:00"),
        remote_addr: `10.0.${(i >> 8) & 3}.${i & 255}`,
        method: "GET",
        uri: `/v2/${repository}/${blob ? "blobs" : "manifests"}/${reference}`,
        status: 200,
        bytes_sent: 5_000_400,
        body_bytes_sent: 5_000_000,
        request_time: 0.8,
        repository,
        kind: blob ? "blob" : "manifest",
        reference,
        upstream: "",
        range: "",
        user_agent: "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.10.14-linuxkit os/linux arch/arm64",
        request_id: i.toString(16).padStart(32, "0"),
      }),
    );
  }
  return lines;
}

function time(run: () => void): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const lines = makeLines();
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "venue-bench-")), "access.json");
fs.writeFileSync(file, `${lines.join("\n")}\n`);
const megabytes = fs.statSync(file).size / 1e6;

const baselineMs = time(() => {
  let n = 0;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) if (line) n += (JSON.parse(line) as { status: number }).status;
  if (n === 0) throw new Error("unreachable");
});
const stats = new AccessLogStats();
const monitorMs = time(() => {
  const tail = new AccessLogTail(file, (line) => stats.addLine(line));
  tail.poll();
  tail.close();
  stats.summary(undefined, Date.parse("2025-05-20T10:10:00Z"));
});
const summaryMs = time(() => stats.summary(undefined, Date.parse("2025-05-20T10:10:00Z")));

console.log(`access log: ${LINES} lines, ${megabytes.toFixed(1)} MB`);
console.log(`baseline (read + JSON.parse): ${baselineMs.toFixed(0)} ms`);
console.log(`monitor (tail + parse + count + summary): ${monitorMs.toFixed(0)} ms = ${(monitorMs / baselineMs).toFixed(2)}x baseline, ${((LINES / monitorMs) * 1000).toFixed(0)} lines/s`);
console.log(`one refresh's summary over that history: ${summaryMs.toFixed(1)} ms`);
fs.rmSync(path.dirname(file), { recursive: true, force: true });

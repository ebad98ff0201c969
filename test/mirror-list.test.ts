import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import yargs from "yargs";
import { publishMirrorsCommand } from "../facilitator/mirror-list-command";
import {
  MirrorListError,
  buildMirrorList,
  hostPortProblem,
  parseMirrorListText,
  readMirrorList,
  servingRegistries,
  splitAddressList,
  validateMirrorList,
  writeMirrorList,
} from "../lib/mirror-list";

const at = new Date("2025-03-01T09:00:00.000Z");

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "venue-mirror-list-"));
}

function problemsOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(MirrorListError);
    return (error as MirrorListError).problems;
  }
  throw new Error("expected a MirrorListError");
}

async function runCommand(argv: string[]): Promise<{ stdout: string; stderr: string; exitCode: number | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  const originalOut = process.stdout.write.bind(process.stdout);
  const originalErr = process.stderr.write.bind(process.stderr);
  const previousExitCode = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    await yargs(argv).command(publishMirrorsCommand).strict().exitProcess(false).parseAsync();
    return { stdout: out.join(""), stderr: err.join(""), exitCode: process.exitCode as number | undefined };
  } finally {
    process.stdout.write = originalOut;
    process.stderr.write = originalErr;
    process.exitCode = previousExitCode;
  }
}

describe("mirror list", () => {
  it("builds the published form, primary first", () => {
    const list = buildMirrorList(" 192.168.1.10:5000 ", ["192.168.1.21:5000", "venue-b.local:5000"], at);
    expect(list).to.deep.equal({
      schemaVersion: 1,
      primary: "192.168.1.10:5000",
      mirrors: ["192.168.1.21:5000", "venue-b.local:5000"],
      generatedAt: "2025-03-01T09:00:00.000Z",
    });
    expect(servingRegistries(list)).to.deep.equal(["192.168.1.10:5000", "192.168.1.21:5000", "venue-b.local:5000"]);
    expect(servingRegistries(buildMirrorList("10.0.0.1:5000", [], at))).to.deep.equal(["10.0.0.1:5000"]);
  });

  it("names what is wrong with an address", () => {
    expect(hostPortProblem("192.168.1.10:5000")).to.equal(undefined);
    expect(hostPortProblem("[fe80::1]:5000")).to.equal(undefined);
    expect(hostPortProblem("192.168.1.10")).to.equal('"192.168.1.10" must be host:port, e.g. 192.168.1.20:5000');
    expect(hostPortProblem("192.168.1.10:70000")).to.equal('"192.168.1.10:70000" needs a port from 1 to 65535 after the colon');
    expect(hostPortProblem("http://x:5000")).to.equal('"http://x:5000" has no valid host name or address before the port (e.g. 192.168.1.20:5000)');
  });

  it("reports every problem at once, with where it is", () => {
    const problems = problemsOf(() => buildMirrorList("10.0.0.1:5000", ["10.0.0.2", "10.0.0.1:5000", "10.0.0.3:5000", "10.0.0.3:5000"], at));
    expect(problems).to.deep.equal([
      'mirrors.0: "10.0.0.2" must be host:port, e.g. 192.168.1.20:5000',
      'mirrors.1: "10.0.0.1:5000" is the primary itself',
      'mirrors.3: "10.0.0.3:5000" is listed twice',
    ]);
    expect(() => buildMirrorList("x", [], at)).to.throw('the mirror configuration is not a usable mirror list: primary: "x" must be host:port, e.g. 192.168.1.20:5000');
  });

  it("refuses other schema versions, missing fields and bad times", () => {
    expect(problemsOf(() => validateMirrorList({ schemaVersion: 2, primary: "a:1", mirrors: [], generatedAt: at.toISOString() }))).to.deep.equal([
      "schemaVersion: Invalid literal value, expected 1",
    ]);
    expect(problemsOf(() => validateMirrorList({ schemaVersion: 1, primary: "a:1", generatedAt: "yesterday" }))).to.deep.equal([
      "mirrors: Required",
      "generatedAt: must be an ISO 8601 time such as 2025-01-31T09:00:00.000Z",
    ]);
  });

  it("writes atomically and reads back what it wrote; a damaged file names the file", () => {
    const dir = tempDir();
    const file = path.join(dir, "www", "attendee", "mirrors.json");
    const list = buildMirrorList("10.0.0.1:5000", ["10.0.0.2:5000"], at);
    writeMirrorList(file, list);
    expect(fs.readFileSync(file, "utf8")).to.equal(`${JSON.stringify(list, null, 2)}\n`);
    expect(readMirrorList(file)).to.deep.equal(list);
    expect(fs.readdirSync(path.dirname(file))).to.deep.equal(["mirrors.json"]);
    fs.writeFileSync(file, "\uFEFF{\n  \"schemaVersion\": 1,\n");
    expect(() => readMirrorList(file)).to.throw(`${file} is not valid JSON`);
    expect(() => writeMirrorList(file, { ...list, primary: "nope" })).to.throw(`${file} is not a usable mirror list: primary: "nope" must be host:port`);
  });

  it("tolerates a byte-order mark", () => {
    const text = `\uFEFF${JSON.stringify({ schemaVersion: 1, primary: "a.local:5000", mirrors: [], generatedAt: at.toISOString() })}`;
    expect(parseMirrorListText(text).primary).to.equal("a.local:5000");
  });

  it("splits comma lists the way --mirrors and --registry take them", () => {
    expect(splitAddressList(" a:1, b:2,,c:3 ")).to.deep.equal(["a:1", "b:2", "c:3"]);
    expect(splitAddressList("")).to.deep.equal([]);
    expect(splitAddressList(undefined)).to.deep.equal([]);
  });

  describe("venue publish-mirrors", () => {
    it("writes mirrors.json and says what it published", async () => {
      const out = path.join(tempDir(), "attendee", "mirrors.json");
      const result = await runCommand(["publish-mirrors", "--primary", "192.168.1.10:5000", "--mirrors", "192.168.1.21:5000,192.168.1.22:5000", "--out", out]);
      expect(result.exitCode).to.equal(undefined);
      expect(result.stderr).to.equal("");
      expect(result.stdout).to.equal(`Wrote ${out}: primary 192.168.1.10:5000 and 2 mirror laptops (192.168.1.21:5000, 192.168.1.22:5000); attendees spread over all of them.\n`);
      const written = readMirrorList(out);
      expect(written.mirrors).to.deep.equal(["192.168.1.21:5000", "192.168.1.22:5000"]);
      expect(Date.parse(written.generatedAt)).to.be.closeTo(Date.now(), 60_000);
    });

    it("publishes an empty list when there are no mirrors", async () => {
      const out = path.join(tempDir(), "mirrors.json");
      const result = await runCommand(["publish-mirrors", "--primary", "192.168.1.10:5000", "--out", out]);
      expect(result.stdout).to.equal(`Wrote ${out}: primary 192.168.1.10:5000 and no mirror laptops; attendees spread over all of them.\n`);
      expect(readMirrorList(out).mirrors).to.deep.equal([]);
    });

    it("exits 2 on a bad address, writes nothing and says how to fix it", async () => {
      const out = path.join(tempDir(), "mirrors.json");
      const result = await runCommand(["publish-mirrors", "--primary", "192.168.1.10:5000", "--mirrors", "192.168.1.21", "--out", out]);
      expect(result.exitCode).to.equal(2);
      expect(result.stdout).to.equal("");
      expect(result.stderr).to.equal(
        'venue publish-mirrors: the mirror configuration is not a usable mirror list: mirrors.0: "192.168.1.21" must be host:port, e.g. 192.168.1.20:5000\n' +
          "Fix the stack config (pulumi config set --path 'mirrors[0]' HOST:PORT) or the --primary/--mirrors flags, then run it again.\n",
      );
      expect(fs.existsSync(out)).to.equal(false);
    });
  });
});

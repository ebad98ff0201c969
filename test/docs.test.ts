import { expect } from "chai";
import * as path from "path";
import { buildAttendeeCli } from "../attendee/cli";
import { buildVenueCli } from "../facilitator/venue";
import { ATTENDEE_FIXES } from "../lib/dashboard-page";
import {
  checkDocs,
  codeSnippets,
  DOCKER_MESSAGES,
  DriftReferences,
  formatProblems,
  invocationsIn,
  messageIsKnown,
  messageSources,
  packageScripts,
  PLACEHOLDER_ARG,
  repositoryDocs,
} from "./support/docs-drift";

const ROOT = path.resolve(__dirname, "..");

function repositoryReferences(): DriftReferences {
  return {
    attendeeCli: (args) =>
      buildAttendeeCli(args, () => {
        throw new Error("the docs check must never run an attendee command");
      }),
    venueCli: buildVenueCli,
    scripts: packageScripts(ROOT),
    sources: messageSources(ROOT),
    dockerMessages: DOCKER_MESSAGES,
  };
}

describe("docs", function () {
  // Parsing a few hundred command lines with yargs takes a few seconds on a shared machine.
  this.timeout(60_000);

  describe("the drift checker itself", () => {
    const sample = [
      "# Sample",
      "",
      "```sh",
      "npx -y http://10.0.0.1:5000/attendee/workshop-attendee.tgz --regsitry 10.0.0.1:5000",
      "npx -y http://10.0.0.1:5000/attendee/workshop-attendee.tgz --registry 10.0.0.1:5000 --no-fallback",
      "npm run venue -- mirror --source postgres:15 --target workshop/postgres:15 --registry 127.0.0.1:5001",
      "npm run venue -- mirror --sauce postgres:15 --target workshop/postgres:15 --registry 127.0.0.1:5001",
      "npm run upp",
      "```",
      "",
      "After the workshop run `workshop-attendee undo`, not `workshop-attendee forget`.",
      "",
      "| Symptom | Message | Printed by | Fix |",
      "| --- | --- | --- | --- |",
      "| no rights | `This needs administrator rights: <what>.` | venue-registry | sudo |",
      "| no rights, misquoted | `This needs adminstrator rights: <what>.` | venue-registry | sudo |",
      "| not configured | `http: server gave HTTP response to HTTPS client` | Docker | configure |",
      "| misquoted Docker | `server sent HTTP response to HTTPS client` | Docker | configure |",
      "| someone else | `whatever` | nginx | |",
      "",
    ].join("\n");

    it("reports a renamed flag, a missing verb, an unknown script and misquoted messages, naming file and line", async () => {
      const report = await checkDocs([{ file: "docs/sample.md", text: sample }], repositoryReferences());
      const found = report.problems.map((p) => [p.kind, p.line, p.quoted]);
      expect(found).to.deep.equal([
        ["command", 4, "npx -y http://10.0.0.1:5000/attendee/workshop-attendee.tgz --regsitry 10.0.0.1:5000"],
        ["command", 7, "npm run venue -- mirror --sauce postgres:15 --target workshop/postgres:15 --registry 127.0.0.1:5001"],
        ["command", 8, "npm run upp"],
        ["command", 11, "workshop-attendee forget"],
        ["message", 16, "This needs adminstrator rights: <what>."],
        ["message", 18, "server sent HTTP response to HTTPS client"],
        ["message", 19, "nginx"],
      ]);
      expect(report.problems.every((p) => p.file === "docs/sample.md")).to.equal(true);
      expect(report.problems[0].problem).to.equal("the attendee CLI (attendee/cli.ts) rejects it: Unknown argument: regsitry");
      expect(report.problems[1].problem).to.contain("Unknown argument: sauce");
      expect(report.problems[2].problem).to.equal('npm script "upp" does not exist in package.json');
      expect(report.problems[4].problem).to.equal("no source file in lib/, attendee/, facilitator/ or scripts/ prints this message");
      expect(report.problems[5].problem).to.contain("is not one of Docker's messages");
      // The good lines were found and checked, not skipped.
      expect(report.invocations.filter((i) => i.kind === "attendee").map((i) => i.line)).to.deep.equal([4, 5, 11, 11]);
      expect(report.messagesChecked).to.equal(4);
    });

    it("checks the commands and options tables of the attendee pages", async () => {
      const table = ["| option | meaning |", "| --- | --- |", "| `--registry host:port` (`-r`) | venue |", "| `--no-fallbak` | stay |", "| `--help`, `--version` | |"].join("\n");
      const commands = ["| command | what |", "| --- | --- |", "| `status` (alias `doctor`) | checks |", "| `forget` | undo |"].join("\n");
      const report = await checkDocs([{ file: "docs/attendee/sample.md", text: `${table}\n\n${commands}\n` }], repositoryReferences());
      expect(report.problems.map((p) => [p.line, p.quoted, p.problem])).to.deep.equal([
        [4, "--no-fallbak", "the attendee CLI (attendee/cli.ts) rejects it: Unknown argument: fallbak"],
        [10, "forget", "the attendee CLI (attendee/cli.ts) rejects it: Unknown argument: forget"],
      ]);
      expect(report.invocations.map((i) => i.quoted)).to.deep.equal(["--registry host:port", "-r", "--no-fallbak", "--help", "--version", "status", "doctor", "forget"]);
      // Outside docs/attendee/ the same tables are someone else's options (dockerd's, pack:attendee's).
      const elsewhere = await checkDocs([{ file: "docs/sample.md", text: table }], repositoryReferences());
      expect(elsewhere.invocations).to.deep.equal([]);
    });

    it("reads synopsis notation, continuation lines, comments and commands inside messages", () => {
      const markdown = [
        "```",
        "npm run venue -- verify --images images.json --registry <host:port>",
        "    [--platforms a,b] [--insecure <host:port>]...",
        "npm run down   # pulumi destroy --stack venue",
        "✖ Docker does not list 10.0.0.1:5000 as insecure yet.",
        "  Run: workshop-attendee status   and show the output to the facilitator.",
        "```",
        "Build it with ``npm run pack:attendee -- --venue 10.0.0.1:5000`` and see `venue watch --url http://127.0.0.1:5000`.",
      ].join("\n");
      const invocations = codeSnippets(markdown).flatMap(invocationsIn);
      expect(invocations.map((i) => [i.kind, i.line, i.args])).to.deep.equal([
        ["npm-script", 2, ["venue"]],
        ["venue", 2, ["verify", "--images", "images.json", "--registry", PLACEHOLDER_ARG, "--platforms", "a,b", "--insecure", PLACEHOLDER_ARG]],
        ["npm-script", 4, ["down"]],
        ["attendee", 6, ["status"]],
        ["npm-script", 8, ["pack:attendee"]],
        ["venue", 8, ["watch", "--url", "http://127.0.0.1:5000"]],
      ]);
    });
  });

  describe("the repository's docs", () => {
    let report: Awaited<ReturnType<typeof checkDocs>>;
    before(async () => {
      report = await checkDocs(repositoryDocs(ROOT), repositoryReferences());
    });

    it("show only command lines the real parsers and package.json accept", () => {
      const problems = report.problems.filter((p) => p.kind === "command");
      expect(problems, `\n${formatProblems(problems)}\n`).to.deep.equal([]);
      // The guard has something to guard: each kind of command line is in the docs.
      const kinds = new Set(report.invocations.map((i) => i.kind));
      expect([...kinds].sort()).to.deep.equal(["attendee", "npm-script", "venue"]);
      const files = new Set(report.invocations.map((i) => i.file));
      for (const file of ["README.md", "docs/attendee/quick-start.md", "docs/facilitator/setup.md", "docs/facilitator/troubleshooting.md"]) {
        expect(files.has(file), `${file} shows no checked command line`).to.equal(true);
      }
    });

    it("would fail them if an npm script they use were renamed", async () => {
      const scripts = new Set(packageScripts(ROOT));
      scripts.delete("up");
      const renamed = await checkDocs(repositoryDocs(ROOT), { ...repositoryReferences(), scripts });
      const readme = renamed.problems.filter((p) => p.file === "README.md").map((p) => p.quoted);
      expect(readme).to.include("npm run up");
      expect(renamed.problems.every((p) => p.problem === 'npm script "up" does not exist in package.json')).to.equal(true);
    });

    it("put on the projector slide only symptoms someone really prints", () => {
      const quoted = ATTENDEE_FIXES.flatMap((fix) => [...fix.symptom.matchAll(/“([^”]+)”/g)].map((m) => m[1]));
      expect(quoted).to.have.length.at.least(ATTENDEE_FIXES.length);
      const unknown = quoted.filter((q) => !messageIsKnown(q, repositoryReferences()));
      expect(unknown).to.deep.equal([]);
      expect(messageIsKnown("server sent HTTP response to HTTPS client", repositoryReferences())).to.equal(false);
    });

    it("quote only messages the code prints, or Docker's own", () => {
      const problems = report.problems.filter((p) => p.kind === "message");
      expect(problems, `\n${formatProblems(problems)}\n`).to.deep.equal([]);
      expect(report.messagesChecked).to.be.at.least(25);
    });
  });
});

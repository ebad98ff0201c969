/**
 * What the venue stack declares, checked with Pulumi's mocks (the Pulumi CLI and its providers cannot
 * run here). The program under test is the real index.ts with the real images.json.
 */
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import * as path from "path";
import yargs from "yargs";
import { execFileSync } from "child_process";
import { readImageList } from "../lib/image-list";
import { venueVerb } from "../lib/venue-registry";

interface Declared {
  type: string;
  name: string;
  inputs: Record<string, any>;
  dependsOn: string[];
  options: pulumi.ResourceOptions;
}

const declared: Declared[] = [];
const byUrn = new Map<string, string>();

function resolve<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((done) => output.apply((value) => done(value)));
}

async function dependencyNames(options: pulumi.ResourceOptions): Promise<string[]> {
  const raw = options.dependsOn;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const names: string[] = [];
  for (const item of list) {
    const resource = (await Promise.resolve(item)) as pulumi.Resource;
    const urn = await resolve(resource.urn);
    names.push(urn.split("::").pop()!);
  }
  return names;
}

const project = path.resolve(__dirname, "..");

/** Splits a command line as sh would for the quoting lib/venue-registry.ts produces ('...' only). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      current = (current ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (ch === "\\" && line[i + 1] === "'") {
      current = (current ?? "") + "'";
      i++;
    } else if (ch === " ") {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? "") + ch;
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

/** Parses a verb's arguments with the real facilitator CLI's definition, strictly, without running it. */
async function parseVerb(argv: string[]): Promise<Record<string, unknown>> {
  const { venueCommands } = require("../facilitator/venue") as typeof import("../facilitator/venue");
  const [verb, ...rest] = argv;
  const module = venueCommands.find((c) => String(c.command).split(" ")[0] === verb);
  if (!module) throw new Error(`the stack runs "venue ${verb}", which facilitator/venue.ts does not define`);
  let cli = yargs(rest).exitProcess(false).strict().fail((message: string, error: Error) => {
    throw error ?? new Error(`venue ${verb}: ${message}`);
  });
  if (typeof module.builder === "function") cli = (module.builder as (y: typeof cli) => typeof cli)(cli);
  return (await cli.parseAsync()) as Record<string, unknown>;
}
const expectedImages = readImageList(path.join(project, "images.json"));

describe("venue stack (Pulumi mocks)", function () {
  this.timeout(60_000);
  let program: Record<string, pulumi.Output<any>>;

  before(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource(args) {
          const state: Record<string, any> = { ...args.inputs };
          if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${"0".repeat(60)}${declared.length.toString().padStart(4, "0")}`;
          if (args.type === "command:local:Command") state.stdout = "";
          byUrn.set(args.name, args.type);
          return { id: `${args.name}-id`, state };
        },
        call() {
          return {};
        },
      },
      "venue-registry",
      "venue",
      false,
    );
    pulumi.runtime.setAllConfig({ "venue-registry:port": "5000", "venue-registry:replicas": "3", "venue-registry:mirrors": '["10.1.2.3:5000"]' });
    const pending: Array<Promise<void>> = [];
    // The stack transformation sees every resource with its options, dependsOn included.
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((args) => {
        const entry: Declared = { type: args.type, name: args.name, inputs: args.props, dependsOn: [], options: args.opts };
        declared.push(entry);
        pending.push(dependencyNames(args.opts).then((names) => void (entry.dependsOn = names)));
        return undefined;
      });
      program = require("../index");
      return {};
    });
    await resolve(program.attendeeCommand);
    await Promise.all(pending);
  });

  const ofType = (type: string) => declared.filter((d) => d.type === type);
  const containers = () => ofType("docker:index/container:Container");
  const named = (name: string) => {
    const found = declared.find((d) => d.name === name);
    if (!found) throw new Error(`no resource named ${name}; declared: ${declared.map((d) => d.name).join(", ")}`);
    return found;
  };

  it("declares the component with children named after it", () => {
    expect(ofType("venue:index:VenueRegistry").map((d) => d.name)).to.deep.equal(["venue"]);
    for (const d of declared.filter((x) => x.type !== "venue:index:VenueRegistry")) {
      expect(d.name, d.type).to.match(/^venue-/);
      expect(d.options.parent, d.name).to.not.equal(undefined);
    }
  });

  it("gives every long-running container a restart policy and a 30 s health check", () => {
    const names = containers().map((c) => c.inputs.name);
    expect(names).to.have.members(["venue-registry-writer", "venue-replica-1", "venue-replica-2", "venue-replica-3", "venue-frontdoor", "venue-monitor"]);
    for (const c of containers()) {
      expect(c.inputs.restart, c.name).to.be.oneOf(["always", "unless-stopped"]);
      expect(c.inputs.healthcheck.interval, c.name).to.equal("30s");
      expect(c.inputs.healthcheck.tests[0], c.name).to.equal("CMD");
      // Fixed names and ports: replacements must delete first, and health-check edits must apply.
      expect((c.options as pulumi.CustomResourceOptions).deleteBeforeReplace, c.name).to.equal(true);
      expect(c.options.replaceOnChanges, c.name).to.include("healthcheck");
    }
  });

  it("keeps the registry data volume through pulumi destroy, and the infrastructure images locally", () => {
    const data = ofType("docker:index/volume:Volume").find((v) => v.inputs.name === "venue-registry-data")!;
    expect(data.options.retainOnDelete).to.equal(true);
    const images = ofType("docker:index/remoteImage:RemoteImage");
    expect(images.map((i) => i.inputs.name)).to.have.members(["registry:2.8.3", "nginx:1.27-alpine", "node:20-alpine"]);
    for (const image of images) expect(image.inputs.keepLocally, image.name).to.equal(true);
  });

  it("lets only the front door listen beyond 127.0.0.1", () => {
    const published = containers().filter((c) => (c.inputs.ports ?? []).length > 0);
    for (const c of published) {
      for (const port of c.inputs.ports) {
        const open = port.ip === undefined || port.ip === "0.0.0.0";
        if (c.inputs.name === "venue-frontdoor") {
          expect(open).to.equal(true);
          expect(port.external).to.equal(5000);
        } else {
          expect(port.ip, `${c.inputs.name} publishes ${port.external}`).to.equal("127.0.0.1");
        }
      }
    }
    expect(published.map((c) => c.inputs.name)).to.have.members(["venue-frontdoor", "venue-registry-writer"]);
  });

  it("runs replicas read-only on the shared volume, and the writer writable", () => {
    const replica = containers().find((c) => c.inputs.name === "venue-replica-1")!;
    expect(replica.inputs.volumes[0]).to.include({ containerPath: "/var/lib/registry", readOnly: true });
    expect(replica.inputs.uploads[0].content).to.match(/readonly:\n\s+enabled: true/);
    const writer = containers().find((c) => c.inputs.name === "venue-registry-writer")!;
    expect(writer.inputs.uploads[0].content).to.match(/readonly:\n\s+enabled: false/);
    expect(writer.inputs.wait).to.equal(true);
    const frontDoor = containers().find((c) => c.inputs.name === "venue-frontdoor")!;
    expect(frontDoor.inputs.volumes.find((v: any) => v.containerPath === "/var/lib/registry")).to.include({ readOnly: true });
    expect(frontDoor.inputs.uploads[0].file).to.equal("/etc/nginx/nginx.conf");
    for (const i of [1, 2, 3]) expect(frontDoor.inputs.uploads[0].content).to.contain(`venue-replica-${i}:5000`);
    // Replacing a replica or the monitor replaces the front door, whose nginx resolved their addresses.
    expect(frontDoor.options.dependsOn).to.not.equal(undefined);
    expect(frontDoor.inputs.labels[0].label).to.equal("venue.upstreams");
  });

  it("declares one mirror command per image, triggered by source, target and platforms, after the writer", () => {
    const mirrors = ofType("command:local:Command").filter((c) => c.name.startsWith("venue-mirror-"));
    expect(mirrors).to.have.length(expectedImages.length);
    for (const image of expectedImages) {
      const mirror = mirrors.find((m) => m.inputs.create.includes(`--target ${image.target} `))!;
      expect(mirror, image.target).to.not.equal(undefined);
      const platforms = image.platforms ?? ["linux/amd64", "linux/arm64"];
      expect(mirror.inputs.triggers).to.deep.equal([image.source, image.target, platforms.join(","), ""]);
      expect(mirror.inputs.create).to.contain(`--source ${image.source} `);
      expect(mirror.inputs.create).to.contain("--registry 127.0.0.1:5001");
      expect(mirror.dependsOn).to.include("venue-writer");
    }
    const mssql = mirrors.find((m) => m.inputs.create.includes("workshop/mssql"))!;
    expect(mssql.inputs.create).to.contain("--platforms linux/amd64 ");
  });

  it("orders the verification after every mirror, and the preflight before everything", () => {
    const verify = named("venue-verify");
    const mirrorNames = declared.filter((d) => d.name.startsWith("venue-mirror-")).map((d) => d.name);
    expect(verify.dependsOn).to.have.members(mirrorNames);
    expect(verify.inputs.create).to.contain("verify --images images.json");
    for (const name of ["venue-registry-image", "venue-nginx-image", "venue-node-image", "venue-network", "venue-data"]) {
      expect(named(name).dependsOn, name).to.include("venue-preflight");
    }
    expect(named("venue-preflight").inputs.create).to.match(/preflight --port 5000 --mirror-port 5001 --min-free-gb 20/);
  });

  it("builds the attendee package and publishes the mirror list before the front door starts", () => {
    const frontDoor = named("venue-frontdoor");
    expect(frontDoor.dependsOn).to.include.members(["venue-attendee-package", "venue-published-mirrors", "venue-monitor", "venue-replica-1"]);
    expect(named("venue-attendee-package").inputs.create).to.match(/^npm run --silent pack:attendee -- --venue \d+\.\d+\.\d+\.\d+:5000$/);
    expect(named("venue-published-mirrors").inputs.create).to.match(/^node .* publish-mirrors --primary \d+\.\d+\.\d+\.\d+:5000 --mirrors 10\.1\.2\.3:5000 --out \.venue\/www\/attendee\/mirrors\.json$/);
    expect(named("venue-published-mirrors").inputs.triggers.slice(1)).to.deep.equal(["10.1.2.3:5000"]);
  });

  it("runs only command lines that the facilitator CLI accepts, flag for flag", async () => {
    const commandLines = ofType("command:local:Command")
      .map((c) => c.inputs.create as string)
      .filter((line) => line.startsWith("node "));
    const monitor = containers().find((c) => c.inputs.name === "venue-monitor")!;
    const monitorLine = (monitor.inputs.command as string[]).slice(3);
    expect(monitorLine[0]).to.equal("facilitator/venue.ts");
    const parsed: Array<{ argv: string[]; result: Record<string, unknown> }> = [];
    for (const argv of [...commandLines.map((line) => shellWords(line).slice(3)), monitorLine]) {
      expect(argv[0]).to.equal("facilitator/venue.ts");
      parsed.push({ argv, result: await parseVerb(argv.slice(1)) });
    }
    expect(parsed.map((p) => p.argv[1])).to.include.members(["preflight", "mirror", "verify", "publish-mirrors", "monitor"]);
    const mirror = parsed.find((p) => p.argv[1] === "mirror")!.result;
    expect(mirror).to.include({ registry: "127.0.0.1:5001", "lock-dir": ".venue/locks" });
    const publish = parsed.find((p) => p.argv[1] === "publish-mirrors")!.result;
    expect(publish.mirrors).to.equal("10.1.2.3:5000");
    // The configured mirror laptop reaches the dashboard, which shows its health and throughput.
    const monitorArgs = parsed.find((p) => p.argv[1] === "monitor")!.result;
    expect(monitorArgs.mirror).to.deep.equal(["10.1.2.3:5000"]);
  });

  it("exports outputs with the right shape", async () => {
    const registryUrl = await resolve(program.registryUrl);
    const registryHost = await resolve(program.registryHost);
    expect(registryUrl).to.match(/^http:\/\/\d+\.\d+\.\d+\.\d+:5000$/);
    expect(registryUrl).to.equal(`http://${registryHost}`);
    expect(await resolve(program.dashboardUrl)).to.equal(`${registryUrl}/`);
    expect(await resolve(program.attendeeCommand)).to.equal(
      `npx -y ${registryUrl}/attendee/workshop-attendee.tgz --registry ${registryHost}`,
    );
    const lanUrls = await resolve(program.lanUrls);
    expect(lanUrls[0]).to.equal(registryUrl);
    expect(new Set(lanUrls).size).to.equal(lanUrls.length);
    const images = await resolve(program.images);
    expect(images).to.have.length(20);
    expect(images[0]).to.deep.equal({
      source: "postgres:15-alpine",
      target: "workshop/postgres:15-alpine",
      venueName: `${registryHost}/workshop/postgres:15-alpine`,
      platforms: ["linux/amd64", "linux/arm64"],
    });
  });
});

describe("facilitator verb command lines", () => {
  const PREFIX = "node -r ts-node/register/transpile-only facilitator/venue.ts ";
  const awkward = ["verify", "--data-dir", "/Users/Jane Doe/My Venue", "--note", "it's \"fine\"", "--lock-dir", ".venue/locks", "--empty", ""];

  it("quotes for sh on macOS and Linux, and sh gives back every argument as it was", () => {
    const line = venueVerb(awkward, "darwin");
    expect(line.startsWith(PREFIX)).to.equal(true);
    // The real shell splits the arguments; printf shows what the program would receive.
    const printed = execFileSync("/bin/sh", ["-c", `printf '%s\\n' ${line.slice(PREFIX.length)}`], { encoding: "utf8" });
    expect(printed.split("\n").slice(0, -1)).to.deep.equal(awkward);
    // Plain words and the project's relative paths stay unquoted on every system.
    expect(venueVerb(["verify", "--lock-dir", ".venue/locks", "--registry", "127.0.0.1:5001"], "linux")).to.equal(`${PREFIX}verify --lock-dir .venue/locks --registry 127.0.0.1:5001`);
  });

  it("quotes for cmd.exe on Windows, which knows no single quotes", () => {
    expect(venueVerb(["preflight", "--data-dir", "C:\\Users\\Jane Doe\\venue"], "win32")).to.equal(`${PREFIX}preflight --data-dir "C:\\Users\\Jane Doe\\venue"`);
    // A trailing backslash would escape the closing quote; an inner quote is escaped.
    expect(venueVerb(["--out", "C:\\venue dir\\"], "win32")).to.equal(`${PREFIX}--out "C:\\venue dir\\\\"`);
    expect(venueVerb(["--note", 'say "hi"'], "win32")).to.equal(`${PREFIX}--note "say \\"hi\\""`);
    expect(venueVerb(["verify", "--lock-dir", ".venue/locks"], "win32")).to.equal(`${PREFIX}verify --lock-dir .venue/locks`);
  });
});

describe("venue program with bad config", function () {
  this.timeout(60_000);
  const { spawnSync } = require("child_process") as typeof import("child_process");
  const fs = require("fs") as typeof import("fs");
  const os = require("os") as typeof import("os");

  /** Runs index.ts under mocks in a fresh process with the given config, as `pulumi up` would load it. */
  function runProgram(config: Record<string, string>): { status: number | null; output: string } {
    const script = `
      const pulumi = require("@pulumi/pulumi");
      pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "venue-registry", "venue", false);
      pulumi.runtime.setAllConfig(${JSON.stringify(config)});
      try { require("./index"); } catch (error) { console.error(error.message); process.exit(1); }
    `;
    const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: project, encoding: "utf8" });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  it("stops with the config key named when a setting is wrong", () => {
    const result = runProgram({ "venue-registry:port": "99999", "venue-registry:platforms": '["linux/amd64","linux/sparc"]' });
    expect(result.status).to.equal(1);
    expect(result.output).to.contain("venue-registry:port must be a whole number from 1 to 65535");
    expect(result.output).to.contain('venue-registry:platforms[1] is an unknown platform "linux/sparc"');
  });

  it("stops with the entry and field named when images.json is malformed, and leaves the file untouched", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "venue-images-"));
    const file = path.join(dir, "images.json");
    const text = '{ "images": [ { "source": "postgres:15", "target": "workshop/postgres:15" }, { "source": "Redis:7" } ] }';
    fs.writeFileSync(file, text);
    const result = runProgram({ "venue-registry:imagesFile": file });
    expect(result.status).to.equal(1);
    expect(result.output).to.contain("images[1].target is required");
    expect(result.output).to.contain('images[1].source: "Redis:7" is not a valid image reference');
    expect(fs.readFileSync(file, "utf8")).to.equal(text);
    fs.writeFileSync(file, '{ "images": [ { "source": "postgres:15", ');
    const broken = runProgram({ "venue-registry:imagesFile": file });
    expect(broken.output).to.match(/is not valid JSON: .* at line 1, column \d+/);
  });
});

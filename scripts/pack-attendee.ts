/**
 * Builds the attendee CLI as one self-contained package: esbuild bundles attendee/cli.ts with every
 * dependency into cli.js, next to a package.json with "bin" and no dependencies, and `npm pack`
 * turns that into the tgz the front door serves. `npx -y http://VENUE/attendee/workshop-attendee.tgz`
 * then needs no registry and no internet.
 *
 * Usage: npm run pack:attendee [-- --out FILE] [--venue HOST:PORT]
 *   --venue bakes the venue address in, so attendees can run the package with no arguments.
 */
import { execFileSync } from "child_process";
import * as esbuild from "esbuild";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
export const DEFAULT_PACKAGE_FILE = path.join(ROOT, ".venue", "www", "attendee", "workshop-attendee.tgz");

export interface PackOptions {
  out: string;
  venue?: string;
}

export async function packAttendee(options: PackOptions): Promise<string> {
  const template = JSON.parse(fs.readFileSync(path.join(ROOT, "attendee", "package.json"), "utf8")) as Record<string, unknown>;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "workshop-attendee-pack-"));
  try {
    await esbuild.build({
      entryPoints: [path.join(ROOT, "attendee", "cli.ts")],
      outfile: path.join(stage, "cli.js"),
      bundle: true,
      platform: "node",
      target: "node18",
      format: "cjs",
      // Some dependencies (jsonc-parser) ship a UMD "main" with run-time requires that a bundle
      // cannot follow; their ES module build bundles cleanly.
      mainFields: ["module", "main"],
      minify: false,
      legalComments: "inline",
      define: { __WORKSHOP_VENUE__: options.venue ? JSON.stringify(options.venue) : "undefined" },
      logLevel: "error",
    });
    fs.chmodSync(path.join(stage, "cli.js"), 0o755);
    fs.writeFileSync(path.join(stage, "package.json"), `${JSON.stringify(template, null, 2)}\n`);
    const output = execFileSync("npm", ["pack", "--json", "--pack-destination", stage], {
      cwd: stage,
      encoding: "utf8",
      env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
    });
    const [{ filename }] = JSON.parse(output) as Array<{ filename: string }>;
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.copyFileSync(path.join(stage, filename), options.out);
    fs.chmodSync(options.out, 0o644);
    return options.out;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (require.main === module) {
  const out = path.resolve(argument("--out") ?? DEFAULT_PACKAGE_FILE);
  packAttendee({ out, venue: argument("--venue") }).then(
    (file) => process.stdout.write(`wrote ${file} (${fs.statSync(file).size} bytes)\n`),
    (error: unknown) => {
      process.stderr.write(`pack-attendee failed: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * `venue preflight`: the checks the stack runs before it creates anything (lib/preflight.ts).
 * Exit 0 when the venue can start (warnings allowed), 1 when a check failed.
 */
import type { CommandModule } from "yargs";
import { lookupCredentials } from "../lib/docker-credentials";
import { DOCKER_HUB } from "../lib/image-reference";
import { dockerCliProbes, formatPreflight, preflightPassed, runPreflight, statfsFreeBytes } from "../lib/preflight";

interface PreflightArgs {
  port: number;
  "mirror-port": number;
  "min-free-gb": number;
  "data-dir": string;
}

export const preflightCommand: CommandModule<object, PreflightArgs> = {
  command: "preflight",
  describe: "Check Docker, the ports, free disk and Docker Hub credentials before the venue starts",
  builder: (y) =>
    y
      .option("port", { type: "number", default: 5000, describe: "Front door port on the LAN" })
      .option("mirror-port", { type: "number", default: 5001, describe: "Writable registry port on 127.0.0.1" })
      .option("min-free-gb", { type: "number", default: 20, describe: "Minimum free disk in GB" })
      .option("data-dir", { type: "string", default: process.cwd(), describe: "A folder on the disk that holds the images" }) as any,
  handler: async (args) => {
    const results = await runPreflight(
      { port: args.port, mirrorPort: args["mirror-port"], minFreeDiskGb: args["min-free-gb"], dataDir: args["data-dir"] },
      {
        ...dockerCliProbes(),
        freeBytes: statfsFreeBytes,
        async dockerHubCredentials() {
          return lookupCredentials(DOCKER_HUB)?.origin;
        },
      },
    );
    const report = formatPreflight(results);
    if (preflightPassed(results)) {
      console.log(report);
    } else {
      console.error(report);
      process.exitCode = 1;
    }
  },
};

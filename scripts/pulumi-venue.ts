#!/usr/bin/env node
/**
 * `npm run up` / `npm run down`: Pulumi with this project's defaults, so a fresh laptop needs no
 * Pulumi account and no prompts. State lives in .pulumi-state/ (Pulumi.yaml's backend), the
 * passphrase is empty unless the facilitator set one, and the venue stack is created on first use.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const STACK = "venue";
const projectDir = path.resolve(__dirname, "..");

function pulumi(args: string[], env: NodeJS.ProcessEnv): number {
  const result = spawnSync("pulumi", args, { cwd: projectDir, env, stdio: "inherit" });
  if (result.error && (result.error as NodeJS.ErrnoException).code === "ENOENT") {
    console.error(
      "The Pulumi CLI is not installed (the `pulumi` command was not found).\n" +
        "Install it (macOS: `brew install pulumi/tap/pulumi`; Windows: `winget install pulumi`; Linux: see pulumi.com/docs/install), open a new terminal, then run `npm run up` again.",
    );
    return 127;
  }
  return result.status ?? 1;
}

function main(): number {
  const [verb, ...extra] = process.argv.slice(2);
  if (verb !== "up" && verb !== "down") {
    console.error("Usage: pulumi-venue.ts up|down [extra pulumi flags]");
    return 2;
  }
  fs.mkdirSync(path.join(projectDir, ".pulumi-state"), { recursive: true });
  const env = { ...process.env };
  // The stack holds no secrets; an empty passphrase keeps `up` free of prompts.
  if (env.PULUMI_CONFIG_PASSPHRASE === undefined && env.PULUMI_CONFIG_PASSPHRASE_FILE === undefined) env.PULUMI_CONFIG_PASSPHRASE = "";
  const selected = pulumi(["stack", "select", "--create", STACK, "--non-interactive"], env);
  if (selected !== 0) return selected;
  if (verb === "down") {
    // The data volume is retained: the next `up` finds the mirrored images and copies 0 bytes.
    return pulumi(["destroy", "--stack", STACK, "--yes", "--skip-preview", ...extra], env);
  }
  const status = pulumi(["up", "--stack", STACK, "--yes", ...extra], env);
  if (status !== 0) {
    console.error("\n`pulumi up` failed: the first error above names what to fix. Fix it, then run `npm run up` again (finished steps are kept).");
    return status;
  }
  console.log("\nThe venue is up. Put the dashboard's /slides on the projector:");
  return pulumi(["stack", "output", "--stack", STACK], env);
}

process.exitCode = main();

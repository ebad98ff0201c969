#!/usr/bin/env node
/**
 * The facilitator's verbs. The stack's command resources run them (`node -r ts-node/register/transpile-only
 * facilitator/venue.ts <verb> ...`) and a person can run them by hand with `npm run venue -- <verb>`.
 * Each verb is a thin surface over one lib/ noun; exit codes: 0 ok, 1 the job failed, 2 bad input.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { preflightCommand } from "./preflight-command";
import { mirrorCommand, verifyCommand } from "./mirror-command";
import { monitorCommand, watchCommand } from "./monitor-command";

export function buildVenueCli(argv: string[]) {
  return (
    yargs(argv)
      .scriptName("venue")
      .usage("$0 <command> [options]")
      // Commands are registered below, one block per verb.
      .command(preflightCommand)
      .command(mirrorCommand)
      .command(verifyCommand)
      .command(monitorCommand)
      .command(watchCommand)
      .demandCommand(1, "Name a command: see --help.")
      .strict()
      .recommendCommands()
      .help()
      .version()
  );
}

if (require.main === module) {
  void buildVenueCli(hideBin(process.argv)).parseAsync();
}

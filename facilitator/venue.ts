#!/usr/bin/env node
/**
 * The facilitator's verbs. The stack's command resources run them (`node -r ts-node/register/transpile-only
 * facilitator/venue.ts <verb> ...`) and a person can run them by hand with `npm run venue -- <verb>`.
 * Each verb is a thin surface over one lib/ noun; exit codes: 0 ok, 1 the job failed, 2 bad input.
 */
import yargs, { CommandModule } from "yargs";
import { hideBin } from "yargs/helpers";
import { mirrorCommand, verifyCommand } from "./mirror-command";
import { publishMirrorsCommand } from "./mirror-list-command";
import { monitorCommand, watchCommand } from "./monitor-command";
import { preflightCommand } from "./preflight-command";

/** Every verb, in the order --help lists them. Tests parse the stack's command lines against these. */
export const venueCommands: ReadonlyArray<CommandModule<object, any>> = [
  preflightCommand,
  mirrorCommand,
  verifyCommand,
  publishMirrorsCommand,
  monitorCommand,
  watchCommand,
];

export function buildVenueCli(argv: string[]) {
  let cli = yargs(argv).scriptName("venue").usage("$0 <command> [options]");
  for (const command of venueCommands) cli = cli.command(command);
  return cli.demandCommand(1, "Name a command: see --help.").strict().recommendCommands().help().version();
}

if (require.main === module) {
  void buildVenueCli(hideBin(process.argv)).parseAsync();
}

/**
 * `venue publish-mirrors`: writes mirrors.json (lib/mirror-list.ts) into the folder the front door
 * serves at /attendee/, from the stack's `mirrors` config. Exit codes: 0 written, 2 bad input,
 * 1 the file could not be written.
 */
import type { Argv, CommandModule } from "yargs";
import { MIRROR_LIST_FILE_NAME, MirrorListError, buildMirrorList, splitAddressList, writeMirrorList } from "../lib/mirror-list";

export const DEFAULT_MIRRORS_OUT = `.venue/www/attendee/${MIRROR_LIST_FILE_NAME}`;

interface PublishMirrorsArgs {
  primary: string;
  mirrors: string;
  out: string;
}

export const publishMirrorsCommand: CommandModule<object, PublishMirrorsArgs> = {
  command: "publish-mirrors",
  describe: "Write the mirror list (mirrors.json) that the front door serves to attendees",
  builder: (y: Argv) =>
    y
      .option("primary", { type: "string", demandOption: true, describe: "This venue's LAN address as attendees reach it, host:port (e.g. 192.168.1.10:5000)" })
      .option("mirrors", { type: "string", default: "", describe: "Comma-separated mirror laptops, host:port each (empty: no mirrors)" })
      .option("out", { type: "string", default: DEFAULT_MIRRORS_OUT, describe: "Where to write mirrors.json" }) as unknown as Argv<PublishMirrorsArgs>,
  handler: (args) => {
    try {
      const list = buildMirrorList(args.primary, splitAddressList(args.mirrors));
      writeMirrorList(args.out, list);
      const mirrors = list.mirrors.length === 0 ? "no mirror laptops" : `${list.mirrors.length} mirror laptop${list.mirrors.length === 1 ? "" : "s"} (${list.mirrors.join(", ")})`;
      process.stdout.write(`Wrote ${args.out}: primary ${list.primary} and ${mirrors}; attendees spread over all of them.\n`);
    } catch (error) {
      if (error instanceof MirrorListError) {
        process.stderr.write(
          `venue publish-mirrors: ${error.message}\nFix the stack config (pulumi config set --path 'mirrors[0]' HOST:PORT) or the --primary/--mirrors flags, then run it again.\n`,
        );
        process.exitCode = 2;
        return;
      }
      process.stderr.write(`venue publish-mirrors: could not write ${args.out}: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  },
};

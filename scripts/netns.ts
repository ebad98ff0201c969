/**
 * Network namespaces for the project's own test hosts (the venue simulation and the attendee bench's
 * shaped link): running `ip`/`tc`, killing what runs inside a namespace, and removing namespaces left
 * by a run that was killed before it could clean up.
 */
import { execFileSync } from "child_process";

/** Runs a program and returns its stdout; a failure carries the program's own stderr. */
export function runProgram(program: string, args: string[], timeoutMs = 20_000): string {
  try {
    return execFileSync(program, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`${program} ${args.join(" ")} failed: ${(failure.stderr ?? "").trim() || failure.message}`);
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Names of every network namespace on the machine. */
export function namespaceNames(): string[] {
  return runProgram("ip", ["netns", "list"])
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter(Boolean);
}

export function killNamespaceProcesses(namespace: string): void {
  let pids: number[];
  try {
    pids = runProgram("ip", ["netns", "pids", namespace]).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * Removes namespaces whose name matches `pattern` and whose owner (the pid in the pattern's first
 * group) is gone: their processes are killed, then the namespace is deleted and `afterRemoval` runs
 * for anything else the run left outside the namespace. Returns the names removed.
 */
export function removeStaleNamespaces(pattern: RegExp, afterRemoval: (name: string, ownerPid: number) => void = () => undefined): string[] {
  const removed: string[] = [];
  for (const name of namespaceNames()) {
    const match = pattern.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    killNamespaceProcesses(name);
    try {
      runProgram("ip", ["netns", "del", name]);
      removed.push(name);
    } catch {
      // Someone else removed it first.
    }
    afterRemoval(name, Number(match[1]));
  }
  return removed;
}

/**
 * The credentials `docker login` saved, read the way the Docker CLI reads them: ~/.docker/config.json
 * (or $DOCKER_CONFIG/config.json), per-registry `credHelpers` first, then the `credsStore`, then the
 * base64 `auths` entries. Helpers are the real `docker-credential-<name>` programs, asked with `get`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DOCKER_HUB, DOCKER_HUB_API_HOST } from "./image-reference";
import { parseJsonText } from "./json-text";

/** The key Docker uses for Docker Hub in config.json and in credential helpers. */
export const DOCKER_HUB_CREDENTIALS_KEY = "https://index.docker.io/v1/";

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token (helpers return it with the user name "<token>"). */
  identityToken?: string;
  /** Where they came from, for messages: "config.json auths", "credsStore osxkeychain". */
  origin: string;
}

export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialsError";
  }
}

export interface CredentialLookupOptions {
  /** Defaults to $DOCKER_CONFIG, else ~/.docker. */
  configDirectory?: string;
  /** Environment for the helper programs (PATH decides which helper runs). */
  env?: NodeJS.ProcessEnv;
}

export function dockerConfigDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG && env.DOCKER_CONFIG.trim() !== "" ? env.DOCKER_CONFIG : path.join(os.homedir(), ".docker");
}

export function readDockerConfig(configDirectory: string): DockerConfigFile | undefined {
  const file = path.join(configDirectory, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CredentialsError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code}); fix its permissions or move it away`);
  }
  const data = parseJsonText(text, file);
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new CredentialsError(`${file} must hold a JSON object; repair it or run docker login again`);
  }
  return data as DockerConfigFile;
}

/** "https://Example.com:5000/v1/" and "example.com:5000" name the same registry. */
function hostOfKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, "")
    .split("/")[0]
    .toLowerCase();
}

function isDockerHub(registry: string): boolean {
  return [DOCKER_HUB, DOCKER_HUB_API_HOST, "index.docker.io"].includes(registry.toLowerCase());
}

/** The server address Docker uses for this registry in config.json and helpers. */
export function credentialsKey(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_CREDENTIALS_KEY : registry;
}

function matchesRegistry(key: string, registry: string): boolean {
  const host = hostOfKey(key);
  return isDockerHub(registry) ? isDockerHub(host) : host === registry.toLowerCase();
}

function askHelper(helper: string, serverAddress: string, env: NodeJS.ProcessEnv): RegistryCredentials | undefined {
  const program = `docker-credential-${helper}`;
  const result = spawnSync(program, ["get"], { input: serverAddress, env, encoding: "utf8", timeout: 60_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new CredentialsError(
        `Docker's config names the credential helper "${helper}", but ${program} is not on PATH. ` +
          `Install it, or remove "${helper}" from credsStore/credHelpers in config.json and run docker login again.`,
      );
    }
    throw new CredentialsError(`${program} get failed (${code ?? result.error.message}); run docker login ${serverAddress} again`);
  }
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
    // Helpers say "credentials not found in native keychain" when there is simply no entry.
    if (/not found/i.test(output)) return undefined;
    throw new CredentialsError(`${program} get exited with ${result.status}: ${output || "no message"}; run docker login ${serverAddress} again`);
  }
  let answer: { Username?: string; Secret?: string };
  try {
    answer = JSON.parse(result.stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new CredentialsError(`${program} get printed something that is not JSON; reinstall the helper or run docker login again`);
  }
  if (!answer.Secret) return undefined;
  const origin = `credential helper ${program}`;
  if (answer.Username === "<token>") return { identityToken: answer.Secret, origin };
  return { username: answer.Username, password: answer.Secret, origin };
}

function fromAuthsEntry(entry: NonNullable<DockerConfigFile["auths"]>[string], file: string, key: string): RegistryCredentials | undefined {
  const origin = `${file} auths["${key}"]`;
  if (entry.identitytoken) return { identityToken: entry.identitytoken, username: entry.username, origin };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new CredentialsError(`${origin} is not base64 of user:password; run docker login ${key} again`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), origin };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password, origin };
  return undefined;
}

/**
 * The saved credentials for a registry ("docker.io", "ghcr.io", "127.0.0.1:5000"), or undefined
 * when there are none, in which case requests go anonymously.
 */
export function lookupCredentials(registry: string, options: CredentialLookupOptions = {}): RegistryCredentials | undefined {
  const env = options.env ?? process.env;
  const directory = options.configDirectory ?? dockerConfigDirectory(env);
  const config = readDockerConfig(directory);
  if (!config) return undefined;
  const file = path.join(directory, "config.json");
  const serverAddress = credentialsKey(registry);

  const helperKey = Object.keys(config.credHelpers ?? {}).find((key) => matchesRegistry(key, registry));
  if (helperKey) return askHelper(config.credHelpers![helperKey], serverAddress, env);
  if (config.credsStore) {
    const stored = askHelper(config.credsStore, serverAddress, env);
    if (stored) return stored;
  }
  const authsKey = Object.keys(config.auths ?? {}).find((key) => matchesRegistry(key, registry));
  return authsKey ? fromAuthsEntry(config.auths![authsKey], file, authsKey) : undefined;
}

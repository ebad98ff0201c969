/**
 * The venue stack's settings: Pulumi config read as raw strings, checked, with the defaults that
 * Pulumi.yaml declares (mocks and `pulumi preview` without the CLI's defaults still get them; a test
 * keeps both lists equal). Every problem names the config key and how to set it.
 */
import { parseImageReference } from "./image-reference";
import { KNOWN_PLATFORMS, isKnownPlatform, normalizePlatformText } from "./platform";

export const PROJECT_NAME = "venue-registry";

export interface VenueSettings {
  port: number;
  mirrorPort: number;
  platforms: string[];
  replicas: number;
  minFreeDiskGb: number;
  registryImage: string;
  nginxImage: string;
  nodeImage: string;
  /** host:port of another venue to mirror from, or undefined for the internet. */
  seedFrom?: string;
  imagesFile: string;
  advertiseAddress?: string;
  expectedAttendees: number;
  mirrors: string[];
}

export const DEFAULT_SETTINGS: VenueSettings = {
  port: 5000,
  mirrorPort: 5001,
  platforms: ["linux/amd64", "linux/arm64"],
  replicas: 2,
  minFreeDiskGb: 20,
  registryImage: "registry:2.8.3",
  nginxImage: "nginx:1.27-alpine",
  nodeImage: "node:20-alpine",
  seedFrom: undefined,
  imagesFile: "images.json",
  advertiseAddress: undefined,
  expectedAttendees: 700,
  mirrors: [],
};

/** What Pulumi's Config offers: the raw string of a key, or undefined when unset. */
export interface RawConfig {
  get(key: string): string | undefined;
}

export class VenueSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`The venue stack's config has ${problems.length === 1 ? "a problem" : `${problems.length} problems`}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "VenueSettingsError";
  }
}

const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/;

export function readVenueSettings(config: RawConfig): VenueSettings {
  const problems: string[] = [];
  const key = (name: string) => `${PROJECT_NAME}:${name}`;
  const setHint = (name: string, example: string) => `(pulumi config set ${name} ${example} --stack venue)`;

  const integer = (name: keyof VenueSettings, min: number, max: number, example: string): number => {
    const raw = config.get(name);
    const fallback = DEFAULT_SETTINGS[name] as number;
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${key(name)} must be a whole number from ${min} to ${max}, not "${raw}" ${setHint(name, example)}`);
      return fallback;
    }
    return value;
  };
  const text = (name: keyof VenueSettings): string | undefined => {
    const raw = config.get(name);
    if (raw === undefined || raw.trim() === "") return DEFAULT_SETTINGS[name] as string | undefined;
    return raw.trim();
  };
  const list = (name: keyof VenueSettings): string[] => {
    const raw = config.get(name);
    if (raw === undefined || raw.trim() === "") return [...(DEFAULT_SETTINGS[name] as string[])];
    try {
      const parsed: unknown = JSON.parse(raw);
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")) return parsed as string[];
    } catch {
      // A comma-separated string is what people type on the command line; accept it too.
      if (!raw.trim().startsWith("[")) return raw.split(",").map((s) => s.trim()).filter(Boolean);
    }
    problems.push(`${key(name)} must be a list of strings, not ${raw} ${setHint(`--path '${name}[0]'`, "VALUE")}`);
    return [...(DEFAULT_SETTINGS[name] as string[])];
  };

  const port = integer("port", 1, 65535, "5050");
  const mirrorPort = integer("mirrorPort", 1, 65535, "5001");
  if (port === mirrorPort) problems.push(`${key("port")} and ${key("mirrorPort")} are both ${port}; they must differ`);
  const replicas = integer("replicas", 1, 8, "2");
  const minFreeDiskGb = integer("minFreeDiskGb", 0, 100_000, "20");
  const expectedAttendees = integer("expectedAttendees", 1, 100_000, "700");

  const platforms = list("platforms").map((p, i) => {
    if (!isKnownPlatform(p)) problems.push(`${key("platforms")}[${i}] is an unknown platform "${p}"; use one of ${KNOWN_PLATFORMS.join(", ")}`);
    return normalizePlatformText(p);
  });
  if (platforms.length === 0) problems.push(`${key("platforms")} is empty; list at least one platform, e.g. ["linux/amd64","linux/arm64"]`);

  const images: Record<"registryImage" | "nginxImage" | "nodeImage", string> = {
    registryImage: text("registryImage")!,
    nginxImage: text("nginxImage")!,
    nodeImage: text("nodeImage")!,
  };
  for (const [name, value] of Object.entries(images)) {
    try {
      parseImageReference(value);
    } catch (error) {
      problems.push(`${key(name)}: ${(error as Error).message}`);
    }
  }

  const seedFrom = text("seedFrom");
  if (seedFrom !== undefined && !HOST_PORT.test(seedFrom)) {
    problems.push(`${key("seedFrom")} must be host:port of another venue's front door (e.g. 192.168.1.20:5000), not "${seedFrom}"`);
  }
  const mirrors = list("mirrors");
  mirrors.forEach((mirror, i) => {
    if (!HOST_PORT.test(mirror)) problems.push(`${key("mirrors")}[${i}] must be host:port (e.g. 192.168.1.21:5000), not "${mirror}"`);
  });
  const advertiseAddress = text("advertiseAddress");
  if (advertiseAddress !== undefined && /[/:]/.test(advertiseAddress.replace(/^\[.*\]$/, ""))) {
    problems.push(`${key("advertiseAddress")} is an address without port or scheme (e.g. 192.168.1.20), not "${advertiseAddress}"`);
  }

  if (problems.length > 0) throw new VenueSettingsError(problems);
  return {
    port,
    mirrorPort,
    platforms: [...new Set(platforms)],
    replicas,
    minFreeDiskGb,
    ...images,
    seedFrom,
    imagesFile: text("imagesFile")!,
    advertiseAddress,
    expectedAttendees,
    mirrors,
  };
}

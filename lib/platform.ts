/**
 * Platforms as OCI indexes name them: os/architecture[/variant]. The venue only knows the ones that
 * workshop laptops and registries actually use, so a typo such as "linux/amd46" is caught early.
 */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const KNOWN_PLATFORMS = [
  "linux/amd64",
  "linux/arm64",
  "linux/arm64/v8",
  "linux/arm/v7",
  "linux/arm/v6",
  "linux/386",
  "linux/ppc64le",
  "linux/s390x",
  "linux/riscv64",
  "windows/amd64",
] as const;

export function isKnownPlatform(text: string): boolean {
  return (KNOWN_PLATFORMS as readonly string[]).includes(normalizePlatformText(text));
}

/** "linux/arm64/v8" and "linux/arm64" name the same platform; "Linux/AMD64" is lower-cased. */
export function normalizePlatformText(text: string): string {
  const lower = text.trim().toLowerCase();
  return lower === "linux/arm64/v8" ? "linux/arm64" : lower;
}

export function parsePlatform(text: string): Platform {
  const normalized = normalizePlatformText(text);
  if (!isKnownPlatform(normalized)) {
    throw new Error(`unknown platform "${text}"; use one of ${KNOWN_PLATFORMS.join(", ")}`);
  }
  const [os, architecture, variant] = normalized.split("/");
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(platform: Platform): string {
  const text = [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
  return normalizePlatformText(text);
}

/** Does an index entry's platform match the wanted one? arm64's implicit v8 variant counts as equal. */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  return formatPlatform(candidate) === formatPlatform(wanted);
}

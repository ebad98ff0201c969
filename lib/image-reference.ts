/**
 * Image references, parsed and normalised as Docker does: `postgres` is
 * `docker.io/library/postgres:latest`, the first path part is a registry only when it has a dot or a
 * port or is `localhost`, and a digest may follow a tag.
 */
export const DOCKER_HUB = "docker.io";
/** Where Docker Hub's registry API actually answers. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

export interface ImageReference {
  /** "docker.io", "ghcr.io", "127.0.0.1:5000", "localhost:5000". */
  registry: string;
  /** "library/postgres", "bitnami/redis", "workshop/app". */
  repository: string;
  /** Present unless the reference is by digest only. */
  tag?: string;
  /** "sha256:<64 hex>". */
  digest?: string;
}

export class InvalidReferenceError extends Error {
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`"${reference}" is not a valid image reference: ${reason}`);
    this.name = "InvalidReferenceError";
  }
}

// Grammar from distribution's reference package (facts, not code): lowercase path components
// separated by one of "." "_" "__" or runs of "-".
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_COMPONENT = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const MAX_NAME_LENGTH = 255;

function looksLikeRegistry(firstPart: string): boolean {
  return firstPart.includes(".") || firstPart.includes(":") || firstPart === "localhost" || firstPart.startsWith("[");
}

function validateRegistry(input: string, registry: string): void {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith("[")) {
    const close = registry.indexOf("]");
    if (close < 0) throw new InvalidReferenceError(input, `registry "${registry}" has an unclosed IPv6 bracket`);
    host = registry.slice(1, close);
    const rest = registry.slice(close + 1);
    if (rest) {
      if (!rest.startsWith(":")) throw new InvalidReferenceError(input, `registry "${registry}" is malformed`);
      port = rest.slice(1);
    }
    if (!/^[0-9a-fA-F:]+$/.test(host)) throw new InvalidReferenceError(input, `"${host}" is not an IPv6 address`);
  } else {
    const colon = registry.lastIndexOf(":");
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (!host.split(".").every((part) => HOST_COMPONENT.test(part))) {
      throw new InvalidReferenceError(input, `registry host "${host}" is not a valid host name`);
    }
  }
  if (port !== undefined) {
    const number = Number(port);
    if (!/^[0-9]+$/.test(port) || number < 1 || number > 65535) {
      throw new InvalidReferenceError(input, `registry port "${port}" must be a number from 1 to 65535`);
    }
  }
}

export function parseImageReference(input: string): ImageReference {
  const text = input.trim();
  if (text === "") throw new InvalidReferenceError(input, "it is empty");
  if (/\s/.test(text)) throw new InvalidReferenceError(input, "it contains white space");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new InvalidReferenceError(input, "leave out the scheme (http:// or https://); write host:port/name:tag");
  }

  let remainder = text;
  let digest: string | undefined;
  const at = remainder.indexOf("@");
  if (at >= 0) {
    digest = remainder.slice(at + 1);
    remainder = remainder.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw new InvalidReferenceError(input, `digest "${digest}" must be sha256: followed by 64 lowercase hex digits`);
    }
  }

  let tag: string | undefined;
  const lastSlash = remainder.lastIndexOf("/");
  const lastColon = remainder.lastIndexOf(":");
  if (lastColon > lastSlash) {
    tag = remainder.slice(lastColon + 1);
    remainder = remainder.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(input, `tag "${tag}" may use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")`);
    }
  }

  const parts = remainder.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeRegistry(parts[0])) {
    registry = parts.shift()!;
    validateRegistry(input, registry);
  }
  if (registry === "index.docker.io" || registry === DOCKER_HUB_API_HOST) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p === "")) {
    throw new InvalidReferenceError(input, "the image name is missing or has an empty path part");
  }
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) {
      const hint = /[A-Z]/.test(part) ? " (repository names must be lowercase)" : "";
      throw new InvalidReferenceError(input, `name part "${part}" is not allowed${hint}`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(input, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  if (!tag && !digest) tag = "latest";
  return { registry, repository, tag, digest };
}

/** Parses a repository path with an optional tag but no registry, e.g. the target `workshop/postgres:15`. */
export function parseRepositoryAndTag(input: string): { repository: string; tag: string } {
  const parsed = parseImageReference(`venue.invalid/${input.trim()}`);
  if (input.includes("@")) throw new InvalidReferenceError(input, "a venue name takes a tag, not a digest");
  return { repository: parsed.repository, tag: parsed.tag ?? "latest" };
}

/** Canonical text: registry/repository[:tag][@digest]. */
export function formatImageReference(reference: ImageReference): string {
  let text = `${reference.registry}/${reference.repository}`;
  if (reference.tag) text += `:${reference.tag}`;
  if (reference.digest) text += `@${reference.digest}`;
  return text;
}

/** The short form people type and Docker shows: drops docker.io/ and library/. */
export function familiarImageName(reference: ImageReference): string {
  let name =
    reference.registry === DOCKER_HUB
      ? reference.repository.replace(/^library\//, "")
      : `${reference.registry}/${reference.repository}`;
  if (reference.tag) name += `:${reference.tag}`;
  if (reference.digest) name += `@${reference.digest}`;
  return name;
}

/** The reference to ask a registry for: the digest when there is one, else the tag. */
export function manifestReference(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? "latest";
}

/** The host to send registry API calls to (Docker Hub's API is not on docker.io). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** Replaces the registry (and optionally the repository) while keeping tag and digest. */
export function withRegistry(reference: ImageReference, registry: string, repository = reference.repository): ImageReference {
  return { ...reference, registry, repository };
}

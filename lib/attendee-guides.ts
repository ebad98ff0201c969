/**
 * Where the attendee guides live on the venue: the monitor serves docs/attendee at /guides/
 * (lib/guide-page.ts renders them), and the attendee CLI points at the page for the attendee's
 * system when a step needs doing by hand. Kept apart from the renderer so the CLI's bundle stays
 * free of the markdown library.
 */

export const GUIDES_URL_PATH = "/guides/";

/** The guide page for an OS as Node names it ("darwin", "win32", "linux", ...). */
export function guidePageFor(platform: NodeJS.Platform): "macos" | "windows" | "linux" {
  return platform === "darwin" ? "macos" : platform === "win32" ? "windows" : "linux";
}

/** "/guides/macos#if-configure-fails": a guide's path on the venue. */
export function guidePath(page: string, section?: string): string {
  return `${GUIDES_URL_PATH}${page}${section ? `#${section}` : ""}`;
}

/** "http://192.168.1.20:5000/guides/macos#if-configure-fails" */
export function guideUrl(venue: string, page: string, section?: string): string {
  return `http://${venue}${guidePath(page, section)}`;
}

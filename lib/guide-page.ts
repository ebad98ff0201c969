/**
 * The attendee guides (docs/attendee/*.md), served by the venue at /guides/ so an attendee whose
 * setup failed can read the manual steps with no internet. They are rendered from the same files as
 * the repository's docs, so the two cannot drift, and the address the docs use as an example becomes
 * the venue's own, so every command on the page can be copied as it stands.
 */
import * as fs from "fs";
import * as path from "path";
import { Marked, Tokens } from "marked";
import { guidePath } from "./attendee-guides";
import { escapeHtml, htmlPage } from "./html-page";

export const DEFAULT_GUIDES_DIRECTORY = path.join(__dirname, "..", "docs", "attendee");
/** The venue address the docs use in their examples. */
export const EXAMPLE_VENUE_ADDRESS = "192.168.1.20:5000";
/** The guide the index lists first: the one-page quick start. */
const FIRST_GUIDE = "quick-start";

export interface Guide {
  /** The file name without ".md": the guide's path under /guides/. */
  name: string;
  /** The first heading. */
  title: string;
  markdown: string;
}

/** Reads every guide in the folder, the quick start first; an empty list when the folder is missing. */
export function readGuides(directory = DEFAULT_GUIDES_DIRECTORY): Guide[] {
  if (!fs.existsSync(directory)) return [];
  return fs
    .readdirSync(directory)
    .filter((file) => file.endsWith(".md"))
    .map((file) => {
      const markdown = fs.readFileSync(path.join(directory, file), "utf8");
      const name = file.slice(0, -".md".length);
      return { name, title: /^#\s+(.+)$/m.exec(markdown)?.[1].trim() ?? name, markdown };
    })
    .sort((a, b) => (a.name === FIRST_GUIDE ? -1 : b.name === FIRST_GUIDE ? 1 : a.name.localeCompare(b.name)));
}

/** A heading's anchor as GitHub makes it, so the docs' own `page.md#anchor` links keep working. */
export function headingAnchor(text: string): string {
  return text
    .toLowerCase()
    .trim()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Where a link in a guide goes when the venue serves it; undefined when the venue has nothing there. */
export function servedLinkTarget(href: string, guides: readonly Guide[]): string | undefined {
  if (/^(https?:|mailto:)/i.test(href) || href.startsWith("#")) return href;
  const sibling = /^(?:\.\/)?([a-z0-9-]+)\.md(?:#([\w-]*))?$/i.exec(href);
  if (sibling && guides.some((guide) => guide.name === sibling[1])) return guidePath(sibling[1], sibling[2]);
  return undefined;
}

function markdownRenderer(guides: readonly Guide[]): Marked {
  return new Marked({
    gfm: true,
    renderer: {
      heading(this: { parser: { parseInline: (tokens: Tokens.Generic[]) => string } }, token: Tokens.Heading): string {
        return `<h${token.depth} id="${escapeHtml(headingAnchor(token.text))}">${this.parser.parseInline(token.tokens)}</h${token.depth}>\n`;
      },
      link(this: { parser: { parseInline: (tokens: Tokens.Generic[]) => string } }, token: Tokens.Link): string {
        const inner = this.parser.parseInline(token.tokens);
        const target = servedLinkTarget(token.href, guides);
        // Facilitator pages and source files are not on the venue: keep the words, drop the dead link.
        if (target === undefined) return inner;
        return `<a href="${escapeHtml(target)}"${token.title ? ` title="${escapeHtml(token.title)}"` : ""}>${inner}</a>`;
      },
    },
  });
}

/** The docs' example address becomes this venue's; the docs are ours, so their HTML is trusted. */
function renderMarkdown(markdown: string, guides: readonly Guide[], venueAddress: string | undefined): string {
  const text = venueAddress ? markdown.split(EXAMPLE_VENUE_ADDRESS).join(venueAddress) : markdown;
  return markdownRenderer(guides).parse(text, { async: false }) as string;
}

function guideLink(guide: Guide): string {
  return `<a href="${guidePath(guide.name)}">${escapeHtml(guide.title)}</a>`;
}

function guideNavigation(guides: readonly Guide[], current: string | undefined): string {
  const items = guides.map((guide) =>
    guide.name === current
      ? `<li aria-current="page">${escapeHtml(guide.title)}</li>`
      : `<li>${guideLink(guide)}</li>`,
  );
  return `<nav class="guide-nav" aria-label="Guides"><ul>${items.join("")}</ul></nav>`;
}

/** One guide as a page of its own, with the other guides a click away. */
export function renderGuidePage(guide: Guide, guides: readonly Guide[], venueAddress: string | undefined): string {
  return htmlPage(
    guide.title,
    "guide",
    `${guideNavigation(guides, guide.name)}
<main class="guide-body" data-guide="${escapeHtml(guide.name)}">
${renderMarkdown(guide.markdown, guides, venueAddress)}
</main>`,
  );
}

/** /guides/: the list of guides, for the slide and the dashboard to point at. */
export function renderGuideIndex(guides: readonly Guide[]): string {
  const body =
    guides.length === 0
      ? "<p>No guides are installed on this venue. Ask the facilitator.</p>"
      : `<p>Read these without internet, on the venue's network. Pick your system if the one command failed.</p>
<ul class="guide-list">${guides.map((g) => `<li>${guideLink(g)}</li>`).join("")}</ul>`;
  return htmlPage("Workshop guides", "guide", `<main class="guide-body" data-guide="index">
<h1>Workshop guides</h1>
${body}
</main>`);
}

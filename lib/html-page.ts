/**
 * The HTML every page the monitor serves is built from: the dashboard, the slides and the guides
 * share one frame and one stylesheet (/static/dashboard.css), and escape text the same way.
 */

export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The page frame every monitor page shares: one stylesheet, the body class picks the layout. */
export function htmlPage(title: string, bodyClass: string, body: string, extraHead = ""): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
${extraHead}
</head>
<body class="${bodyClass}">
${body}
</body>
</html>
`;
}

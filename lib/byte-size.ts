/**
 * Byte counts as people read them, one way everywhere: the mirror's log, the attendee's progress and
 * summary, the dashboard and the terminal monitor. Decimal units (1 MB = 1,000,000 bytes), as Docker
 * prints image sizes and as network speeds are quoted, so the figures on every screen can be compared.
 */

/**
 * Three significant digits: "0 B", "999 B", "1.5 kB", "67.1 MB", "1.23 GB".
 * Self-contained on purpose: the dashboard sends this function's source text to the browser.
 */
export function formatBytes(bytes: number): string {
  if (!(bytes >= 0) || !Number.isFinite(bytes)) return "–";
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let unit = -1;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  let digits = value.toPrecision(3);
  if (digits.includes(".")) digits = digits.replace(/0+$/, "").replace(/\.$/, "");
  return `${digits} ${units[unit]}`;
}

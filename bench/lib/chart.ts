/**
 * The summary chart as a plain SVG string, drawn here with no library and no network: one
 * panel per figure (throughput, latency, start time), horizontal bars per subject, project
 * bars in blue, baselines in grey, diagnostics light, each bar labelled with its value.
 */
import type { Role } from './report.ts';

export interface Bar {
  label: string;
  value: number;
  role: Role;
}

export interface Panel {
  title: string;
  unit: string;
  bars: Bar[];
  /** A vertical line marking a target, in the panel's unit. */
  target?: { value: number; label: string };
}

const WIDTH = 980;
const LABEL_WIDTH = 430;
const BAR_HEIGHT = 18;
const GAP = 6;
const PANEL_HEAD = 34;
const FILL: Record<Role, string> = { project: '#2563eb', baseline: '#6b7280', diagnostic: '#93c5fd' };

/** Renders the panels one under the other; bars of a panel share its scale. */
export function renderChart(title: string, subtitle: string, panels: Panel[]): string {
  let y = 56;
  const parts: string[] = [];
  for (const panel of panels) {
    parts.push(renderPanel(panel, y));
    y += PANEL_HEAD + panel.bars.length * (BAR_HEIGHT + GAP) + 18;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="12" y="40" fill="#4b5563">${escapeXml(subtitle)}</text>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

function renderPanel(panel: Panel, top: number): string {
  const plotWidth = WIDTH - LABEL_WIDTH - 110;
  const max = Math.max(...panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), panel.target?.value ?? 0) || 1;
  const scale = (v: number) => (Math.max(0, v) / max) * plotWidth;
  const out = [`<text x="12" y="${top + 18}" font-size="13" font-weight="bold">${escapeXml(`${panel.title} (${panel.unit})`)}</text>`];
  panel.bars.forEach((bar, i) => {
    const y = top + PANEL_HEAD + i * (BAR_HEIGHT + GAP);
    const width = Number.isFinite(bar.value) ? scale(bar.value) : 0;
    out.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y + 13}" text-anchor="end">${escapeXml(shorten(bar.label, 66))}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${FILL[bar.role]}"/>`,
      `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${y + 13}" fill="#111827">${escapeXml(formatValue(bar.value))}</text>`,
    );
  });
  if (panel.target) {
    const x = LABEL_WIDTH + scale(panel.target.value);
    const bottom = top + PANEL_HEAD + panel.bars.length * (BAR_HEIGHT + GAP);
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top + PANEL_HEAD - 6}" x2="${x.toFixed(1)}" y2="${bottom}" stroke="#dc2626" stroke-dasharray="4 3"/>`,
      `<text x="${x.toFixed(1)}" y="${top + PANEL_HEAD - 9}" fill="#dc2626" text-anchor="middle">${escapeXml(panel.target.label)}</text>`,
    );
  }
  return out.join('\n');
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Math.round(value * 10) / 10);
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

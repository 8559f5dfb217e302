/**
 * The plan for people: a table for the terminal and an SVG chart of instances and latency
 * over the day, per function. Pure: strings in, strings out.
 */
import type { Plan } from './capacity.ts';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const num = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const usd = (n: number) => `$${n.toLocaleString('en-US', { maximumFractionDigits: n < 100 ? 2 : 0, minimumFractionDigits: n < 100 ? 2 : 0 })}`;
/** Milliseconds as ms, s, min or h, whichever reads best. */
export const duration = (ms: number): string => {
  if (ms < 1000) return `${num(ms)} ms`;
  if (ms < 120_000) return `${num(ms / 1000)} s`;
  if (ms < 7_200_000) return `${num(ms / 60_000)} min`;
  return `${num(ms / 3_600_000)} h`;
};
const gib = (n: number) => (n >= 1024 ? `${num(n / 1024, 1)} TiB` : `${num(n, 1)} GiB`);

/** Left-aligned first column, right-aligned others, padded to the widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The whole plan as text: traffic, instances per function, database, Pub/Sub, BigQuery, cost. */
export function formatPlan(plan: Plan): string {
  const { inputs, traffic, database: db } = plan;
  const out: string[] = [];
  out.push(
    `Capacity plan: ${int(inputs.devices)} devices, one message every ${num(inputs.interval, 3)} s, ${inputs.readingsPerMessage} reading(s) × ${inputs.metrics} metric(s), ${inputs.profile} day, target ${inputs.target}`,
  );
  out.push(
    `Traffic: ${num(traffic.messagesPerSecond.mean)} messages/s mean, ${num(traffic.messagesPerSecond.peak)} peak; ${int(traffic.readingsPerDay)} readings/day`,
  );
  out.push('');
  out.push('Instances over the day (simulated Knative KPA, per function)');
  out.push(
    formatTable(
      [
        'function',
        'req/s peak',
        'per inst @target',
        'inst peak',
        'inst mean',
        'direct',
        'max-scale',
        'capped',
        'backlog max',
        'panic s',
        'latency mean',
        'p99',
        'max',
      ],
      plan.functions.map((f) => [
        f.name,
        num(f.requestsPerSecond.peak),
        f.drivenBy.startsWith('none') ? '—' : num(f.measured.capacityAtTarget),
        String(f.instances.peak),
        num(f.instances.mean, 2),
        String(f.instances.directAtPeak),
        f.maxScale > 0 ? String(f.maxScale) : '∞',
        f.capped ? 'YES' : 'no',
        int(f.backlog.max),
        String(f.panicSeconds),
        ...(f.drivenBy.startsWith('none') ? ['—', '—', '—'] : [duration(f.latencyMs.mean), duration(f.latencyMs.p99), duration(f.latencyMs.max)]),
      ]),
    ),
  );
  out.push('  direct = ceil(peak req/s ÷ per-instance req/s at the target): what a steady peak needs.');
  for (const f of plan.functions.filter((x) => x.backlog.max > 0)) {
    out.push(
      `  ${f.name}: requests waited ${int(f.backlog.secondsWithBacklog)} s of the day, up to ${int(f.backlog.max)} (${f.backlog.where})${f.capped ? `; max-scale ${f.maxScale} capped it for ${int(f.cappedSeconds)} s` : '; no cap: pods were still starting'}${f.failedRequests > 0 ? `; ${int(f.failedRequests)} failed after timeoutSeconds` : ''}${f.backlog.endOfDay > 0 ? `; ${int(f.backlog.endOfDay)} still waiting at midnight: it does not keep up` : ''}.`,
    );
  }
  out.push('');
  out.push(
    `Cloud SQL (${db.tier.name}: ${db.tier.vcpu} vCPU, ${db.tier.memoryGib} GiB, max_connections ${db.tier.maxConnections}, ${db.reservedConnections} reserved)`,
  );
  out.push(
    formatTable(
      ['function', 'pool', 'peak inst', 'connections', 'budget (pool × max-scale)'],
      db.perFunction.map((f) => [
        f.name,
        String(f.poolMax),
        String(f.peakInstances),
        String(f.connections),
        f.budget === null ? 'unbounded' : String(f.budget),
      ]),
    ),
  );
  out.push(
    `  peak ${db.peakConnections} connections, budget ${db.budgetConnections ?? 'unbounded'} of ${db.tier.maxConnections - db.reservedConnections} usable: ${db.fits ? 'fits' : `DOES NOT FIT; ${db.suggestedTier ? `${db.suggestedTier.name} (max_connections ${db.suggestedTier.maxConnections}) would` : 'no tier in the table does'}`}.`,
  );
  if (plan.functions.some((f) => f.capped)) {
    out.push(
      `  to serve the peak without a cap (max-scale raised to the direct counts): ${db.connectionsToServePeak} connections, ${db.tierToServePeak.name} (max_connections ${db.tierToServePeak.maxConnections})${db.connectionsToServePeak > db.tierToServePeak.maxConnections - db.reservedConnections ? ', and even that is too small: lower PG_POOL_MAX or put a pooler in front' : ''}.`,
    );
  }
  out.push(
    `  writes: ${num(db.writeRowsPerSecond.mean)} readings/s mean, ${num(db.writeRowsPerSecond.peak)} peak; ~${db.bytesPerReading} B per reading with indexes; ${db.retentionDays} days kept = ${gib(db.storageGib)}.`,
  );
  out.push('');
  out.push(
    `Pub/Sub: ${int(plan.pubsub.messagesPerDay)} messages/day of ~${plan.pubsub.bytesPerMessage} B = ${gib(plan.pubsub.gibPerDay)}/day; ${gib(plan.pubsub.billedGibPerMonth)}/month billed (publish + push, 1,000 B minimum per push); largest backlog ${int(plan.pubsub.maxBacklogMessages)} messages.`,
  );
  out.push(
    `BigQuery: ${num(plan.bigquery.rowsPerSecond.mean)} rows/s mean, ${num(plan.bigquery.rowsPerSecond.peak)} peak (one per metric value), ~${plan.bigquery.bytesPerRow} B per row; streaming billed ${gib(plan.bigquery.streamingBilledGibPerMonth)}/month (1 KB minimum per row); after a year ${gib(plan.bigquery.storageGibAfterYear.active)} active + ${gib(plan.bigquery.storageGibAfterYear.longTerm)} long-term.`,
  );
  out.push('');
  out.push(
    `Monthly cost ESTIMATE (${num(plan.cost.daysPerMonth, 2)} days, list prices of ${plan.cost.pricesTakenOn}, no free tiers or discounts; sources in scripts/plan/prices.json)`,
  );
  out.push(
    formatTable(
      ['item', 'quantity', 'unit', 'USD/month'],
      [
        ...plan.cost.lines.filter((l) => l.usd > 0 || l.quantity > 0).map((l) => [l.item, num(l.quantity, l.quantity < 10 ? 2 : 0), l.unit, usd(l.usd)]),
        ['total', '', '', usd(plan.cost.totalUsd)],
      ],
    ),
  );
  if (plan.warnings.length > 0) {
    out.push('');
    out.push('Warnings');
    for (const w of plan.warnings) out.push(`  - ${w}`);
  }
  return out.join('\n');
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" upper bound for an axis: 1, 2 or 5 × 10^k at or above `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= max)!;
}

/**
 * Two panels over the 24 hours: instances per function (linear) and the worst latency per
 * minute per function (log scale, so a cold start and a 10 ms answer both show).
 */
export function renderPlanSvg(plan: Plan): string {
  const width = 1000,
    panelHeight = 260,
    left = 70,
    right = 190,
    top = 56,
    gap = 70;
  const plotWidth = width - left - right;
  const height = top + panelHeight * 2 + gap + 64;
  const names = Object.keys(plan.series.functions);
  const colour = (i: number) => COLOURS[i % COLOURS.length]!;
  const minutes = 24 * 60;
  const x = (m: number) => left + (m / (minutes - 1)) * plotWidth;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  const title = `${plan.inputs.devices.toLocaleString('en-US')} devices, every ${plan.inputs.interval} s, ${plan.inputs.profile} day, ${plan.inputs.target}: ${int(plan.traffic.messagesPerSecond.mean)} msg/s mean, ${int(plan.traffic.messagesPerSecond.peak)} peak`;
  parts.push(`<text x="${left}" y="24" font-size="15" font-weight="600">${escapeXml(title)}</text>`);
  parts.push(`<text x="${left}" y="42" fill="#555">Simulated Knative KPA per function (npm run plan). Estimate from measured per-instance throughput.</text>`);

  const drawXAxis = (y0: number) => {
    for (let h = 0; h <= 24; h += 3) {
      const xx = x(Math.min(minutes - 1, h * 60));
      parts.push(`<line x1="${xx}" y1="${y0}" x2="${xx}" y2="${y0 + panelHeight}" stroke="#eee"/>`);
      parts.push(`<text x="${xx}" y="${y0 + panelHeight + 16}" text-anchor="middle" fill="#333">${String(h).padStart(2, '0')}:00</text>`);
    }
    parts.push(`<rect x="${left}" y="${y0}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`);
  };
  const polyline = (values: number[], y: (v: number) => number, stroke: string, dash = '') =>
    `<polyline fill="none" stroke="${stroke}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${values.map((v, m) => `${x(m).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;

  // Panel 1: instances.
  const y1 = top + 10;
  const maxInstances = niceMax(
    Math.max(
      1,
      ...names.flatMap((n) => plan.series.functions[n]!.instances),
      ...plan.functions.map((f) => (f.maxScale > 0 && f.drivenBy !== 'none (no device-driven load)' ? f.maxScale : 0)),
    ),
  );
  const yInst = (v: number) => y1 + panelHeight - (v / maxInstances) * panelHeight;
  drawXAxis(y1);
  // The offered load behind the instance lines, on its own scale (right axis).
  const load = plan.series.messagesPerSecond;
  const maxLoad = niceMax(Math.max(1, ...load));
  const yLoad = (v: number) => y1 + panelHeight - (v / maxLoad) * panelHeight;
  parts.push(
    `<polygon fill="#e8e8e8" points="${x(0)},${y1 + panelHeight} ${load.map((v, m) => `${x(m).toFixed(1)},${yLoad(v).toFixed(1)}`).join(' ')} ${x(minutes - 1)},${y1 + panelHeight}"/>`,
  );
  for (let k = 0; k <= 4; k += 1) {
    const v = (maxLoad * k) / 4;
    parts.push(`<text x="${left + plotWidth + 6}" y="${yLoad(v) + 4}" fill="#888" font-size="11">${int(v)}</text>`);
  }
  parts.push(`<text x="${left + plotWidth + 6}" y="${y1 - 6}" fill="#888" font-size="11">messages/s (grey)</text>`);
  for (let k = 0; k <= 4; k += 1) {
    const v = (maxInstances * k) / 4;
    parts.push(`<text x="${left - 8}" y="${yInst(v) + 4}" text-anchor="end" fill="#333">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`);
  }
  parts.push(
    `<text x="18" y="${y1 + panelHeight / 2}" transform="rotate(-90 18 ${y1 + panelHeight / 2})" text-anchor="middle">instances (mean per minute)</text>`,
  );
  names.forEach((name, i) => {
    const f = plan.functions.find((p) => p.name === name);
    if (f && f.maxScale > 0 && f.maxScale <= maxInstances && !f.drivenBy.startsWith('none')) {
      parts.push(
        `<line x1="${left}" x2="${left + plotWidth}" y1="${yInst(f.maxScale)}" y2="${yInst(f.maxScale)}" stroke="${colour(i)}" stroke-dasharray="4 4" opacity="0.7"/>`,
      );
      parts.push(
        `<text x="${left + plotWidth - 4}" y="${yInst(f.maxScale) - 4}" text-anchor="end" fill="${colour(i)}">${escapeXml(name)} max-scale ${f.maxScale}</text>`,
      );
    }
    parts.push(polyline(plan.series.functions[name]!.instances, yInst, colour(i)));
  });

  // Panel 2: latency, log scale.
  const y2 = y1 + panelHeight + gap;
  const latencies = names.flatMap((n) => plan.series.functions[n]!.latencyMs).filter((v) => v > 0);
  const low = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...latencies, 1))));
  const high = 10 ** Math.ceil(Math.log10(Math.max(low * 10, ...latencies)));
  const yLat = (v: number) => y2 + panelHeight - ((Math.log10(Math.max(v, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * panelHeight;
  drawXAxis(y2);
  for (let e = Math.log10(low); e <= Math.log10(high) + 1e-9; e += 1) {
    const v = 10 ** e;
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${yLat(v)}" y2="${yLat(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 8}" y="${yLat(v) + 4}" text-anchor="end" fill="#333">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
  }
  parts.push(
    `<text x="18" y="${y2 + panelHeight / 2}" transform="rotate(-90 18 ${y2 + panelHeight / 2})" text-anchor="middle">latency (worst per minute, log)</text>`,
  );
  names.forEach((name, i) => {
    const f = plan.functions.find((p) => p.name === name);
    if (f && !f.drivenBy.startsWith('none')) parts.push(polyline(plan.series.functions[name]!.latencyMs, yLat, colour(i)));
  });

  // Legend.
  names.forEach((name, i) => {
    const f = plan.functions.find((p) => p.name === name);
    const lx = left + plotWidth + 60;
    const ly = y2 + 14 + i * 48;
    parts.push(`<line x1="${lx - 50}" x2="${lx - 30}" y1="${ly}" y2="${ly}" stroke="${colour(i)}" stroke-width="3"/>`);
    parts.push(`<text x="${lx - 24}" y="${ly + 4}">${escapeXml(name)}</text>`);
    if (f) parts.push(`<text x="${lx - 24}" y="${ly + 18}" fill="#555" font-size="11">instances: peak ${f.instances.peak}</text>`);
    if (f)
      parts.push(
        `<text x="${lx - 24}" y="${ly + 31}" fill="${f.capped ? '#b00' : '#555'}" font-size="11">mean ${f.instances.mean}${f.capped ? ', capped' : ''}</text>`,
      );
  });
  parts.push(
    `<text x="${left}" y="${height - 12}" fill="#555">Latency = time in a pod (Little's law at the target) + waiting for a pod (cold start, backlog). Only bridge and ingest carry device traffic.</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * The dashboard: the fleet with each device's last-seen time and latest values (silent ones
 * marked), and for the chosen device a chart of one metric over a chosen range, drawn from
 * the series endpoint. Everything refreshes while the page is visible. The token arrives once
 * in the URL fragment (`#token=...`, never sent to a server), is kept in localStorage and
 * removed from the address bar.
 * @see ../../../../docs/readings-api.md
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import type { FleetDevice, FleetResponse, ReadingsResponse, SeriesResponse } from '../../../../schemas/readings-api.ts';

const TOKEN_KEY = 'telemetry.readToken';
const REFRESH_MS = 5_000;
/** A request unanswered this long fails (and the next refresh asks again): a stalled answer must not stop the refreshes. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_FLEET_PAGES = 10;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const statusLine = $('status');
const fleetBody = $<HTMLTableElement>('fleet').tBodies[0] as HTMLTableSectionElement;
const metricSelect = $<HTMLSelectElement>('metric');
const rangeSelect = $<HTMLSelectElement>('range');
const silentSelect = $<HTMLSelectElement>('silent-after');
const chartBox = $('chart');

let token = takeTokenFromFragment() ?? localStorage.getItem(TOKEN_KEY) ?? undefined;
let fleet: FleetDevice[] = [];
/** Whether the fleet had more devices than the pages read. */
let fleetCut = false;
let selected: string | undefined;
let plot: uPlot | undefined;
let timer: number | undefined;
/** Counts chart loads: an answer that arrives after a later load began (another device, metric or range) is dropped. */
let chartLoads = 0;
/**
 * Chartable metrics known for each chosen device in the chosen range: those of its newest
 * readings there (a scan, when the device or the range is chosen), and of every latest reading
 * seen since. A device that sends its battery hourly and its temperature every minute has a
 * battery to chart even when its latest reading holds none.
 */
const seenMetrics = new Map<string, Set<string>>();
/** The range (the select's value) each device's last answered scan covered. */
const scannedRange = new Map<string, string>();
/** Counts metric scans, as chartLoads counts loads. */
let metricScans = 0;
/** Whether the latest scan is still waiting for its answer. */
let scanning = false;

/** `#token=...` → localStorage, and out of the address bar and history. */
function takeTokenFromFragment(): string | undefined {
  const params = new URLSearchParams(location.hash.slice(1));
  const value = params.get('token');
  if (!value) return undefined;
  localStorage.setItem(TOKEN_KEY, value);
  history.replaceState(null, '', location.pathname + location.search);
  return value;
}

class Unauthorized extends Error {}

async function getJson<T>(path: string): Promise<T> {
  // One deadline for the answer and its body: the signal also aborts reading the body.
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, { headers: { authorization: `Bearer ${token ?? ''}` }, cache: 'no-store', signal });
    if (response.status === 401) throw new Unauthorized('the token was refused');
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { message?: string };
      throw new Error(`${response.status}: ${body.message ?? response.statusText}`);
    }
    return (await response.json()) as T;
  } catch (error) {
    if (signal.aborted) throw new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1_000} s`, { cause: error });
    throw error;
  }
}

function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const formatValue = (v: unknown) => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v));

function isSilent(device: FleetDevice): boolean {
  return !device.lastSeenAt || Date.now() - Date.parse(device.lastSeenAt) > Number(silentSelect.value);
}

async function loadFleet(): Promise<void> {
  const devices: FleetDevice[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_FLEET_PAGES; page++) {
    const query = new URLSearchParams({ pageSize: '1000', ...(pageToken ? { pageToken } : {}) });
    const answer = await getJson<FleetResponse>(`/v1/fleet?${query.toString()}`);
    devices.push(...answer.devices);
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  fleet = devices;
  fleetCut = pageToken !== undefined;
  // A device deleted meanwhile leaves the chart; the first live device takes its place.
  if (selected !== undefined && !fleet.some((d) => d.deviceId === selected)) {
    seenMetrics.delete(selected);
    scannedRange.delete(selected);
    selected = undefined;
    clearChart('');
  }
  if (selected !== undefined) {
    // A metric of the latest reading joins the choices and stays there; the one chosen stays chosen.
    const latest = chartable(fleet.find((d) => d.deviceId === selected)?.lastMetrics ?? {});
    seenMetrics.set(selected, new Set([...(seenMetrics.get(selected) ?? []), ...latest]));
    renderMetricChoices(selected);
    // A scan that failed (or never answered for this range) is asked again.
    if (!scanning && scannedRange.get(selected) !== rangeSelect.value) scanMetrics(selected);
  }
  renderFleet();
}

function renderFleet(): void {
  const rows = fleet.map((device) => {
    const row = document.createElement('tr');
    row.dataset.device = device.deviceId;
    row.setAttribute('aria-selected', String(device.deviceId === selected));
    const silent = isSilent(device);
    row.classList.toggle('silent', silent);
    const name = document.createElement('td');
    name.textContent = device.deviceId;
    if (silent) name.append(Object.assign(document.createElement('span'), { className: 'badge', textContent: 'silent' }));
    const site = Object.assign(document.createElement('td'), { textContent: device.site ?? '' });
    const seen = Object.assign(document.createElement('td'), { textContent: ago(device.lastSeenAt) });
    if (device.lastSeenAt) seen.title = device.lastSeenAt;
    const values = Object.assign(document.createElement('td'), { className: 'values' });
    values.textContent = Object.entries(device.lastMetrics)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join('  ');
    row.append(name, site, seen, values);
    row.addEventListener('click', () => selectDevice(device.deviceId));
    return row;
  });
  fleetBody.replaceChildren(...rows);
  const shown = fleetCut ? `the first ${fleet.length} by id; more are not shown` : String(fleet.length);
  $('fleet-count').textContent = `(${shown}, ${fleet.filter(isSilent).length} silent)`;
  if (!selected && fleet[0]) selectDevice(fleet.find((d) => !isSilent(d))?.deviceId ?? fleet[0].deviceId);
}

/** The names of the metrics that can be charted: numeric and boolean values. */
const chartable = (metrics: Record<string, unknown>): string[] =>
  Object.entries(metrics)
    .filter(([, v]) => typeof v !== 'string')
    .map(([k]) => k);

/** Metrics that can be charted: the device's latest values, and those found in its readings of the range. */
function chartableMetrics(deviceId: string): string[] {
  const device = fleet.find((d) => d.deviceId === deviceId);
  return [...new Set([...chartable(device?.lastMetrics ?? {}), ...(seenMetrics.get(deviceId) ?? [])])].sort();
}

/** The metric choices for the device, keeping the one chosen while it is among them. */
function renderMetricChoices(deviceId: string): void {
  const metrics = chartableMetrics(deviceId);
  const keep = metrics.includes(metricSelect.value) ? metricSelect.value : metrics[0];
  const unchanged = metrics.length === metricSelect.options.length && metrics.every((m, i) => metricSelect.options[i]?.value === m);
  if (!unchanged) metricSelect.replaceChildren(...metrics.map((m) => Object.assign(document.createElement('option'), { value: m, textContent: m })));
  if (keep) metricSelect.value = keep;
}

function selectDevice(deviceId: string): void {
  // Another device's chart never stays under this one's title, even for the time a load takes.
  if (deviceId !== selected) clearChart('loading…');
  selected = deviceId;
  for (const row of fleetBody.rows) row.setAttribute('aria-selected', String(row.dataset.device === deviceId));
  renderMetricChoices(deviceId);
  $('chart-title').textContent = deviceId;
  $('chart-section').hidden = false;
  showChart();
  scanMetrics(deviceId);
}

/**
 * Adds the chartable metrics of the device's newest readings in the chosen range (one page of
 * up to 1,000) to its choices. A device whose latest reading held nothing to chart gets its
 * chart once a metric is found.
 */
function scanMetrics(deviceId: string): void {
  const scan = ++metricScans;
  scanning = true;
  const range = rangeSelect.value;
  const to = Date.now();
  const query = new URLSearchParams({ from: new Date(to - Number(range)).toISOString(), to: new Date(to).toISOString(), order: 'desc', pageSize: '1000' });
  // Another device or range chosen meanwhile has its own scan: this one's answer, or failure, is dropped.
  const current = () => scan === metricScans && selected === deviceId;
  getJson<ReadingsResponse>(`/v1/devices/${encodeURIComponent(deviceId)}/readings?${query.toString()}`)
    .then((page) => {
      if (!current()) return;
      // The range's metrics replace those of the range before, with the latest reading's.
      const names = new Set(chartable(fleet.find((d) => d.deviceId === deviceId)?.lastMetrics ?? {}));
      for (const reading of page.readings) for (const name of chartable(reading.metrics)) names.add(name);
      seenMetrics.set(deviceId, names);
      scannedRange.set(deviceId, range);
      const chosen = metricSelect.value;
      renderMetricChoices(deviceId);
      // A first metric found, or the one chosen gone with the range: the chart follows the choice.
      if (metricSelect.value !== chosen) showChart();
    })
    .catch((error: unknown) => {
      if (!current()) return;
      if (error instanceof Unauthorized) askForToken('That token was refused; enter a read token.');
      else setStatus(`the metrics could not be listed: ${error instanceof Error ? error.message : String(error)}`);
    })
    .finally(() => {
      if (scan === metricScans) scanning = false;
    });
}

/** Loads the chart, telling on the status line when it cannot (a click has no refresh loop to report it). */
function showChart(): void {
  refreshChart().catch((error: unknown) => {
    if (error instanceof Unauthorized) askForToken('That token was refused; enter a read token.');
    else setStatus(`the chart could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
  });
}

/** No chart: the plot gone, the note saying why. */
function clearChart(note: string): void {
  plot?.destroy();
  plot = undefined;
  chartBox.dataset.points = '0';
  chartBox.dataset.lastValue = '';
  delete chartBox.dataset.device;
  $('chart-note').textContent = note;
}

/** The finest interval that keeps the range within the API's 1,000 buckets. */
function intervalFor(rangeMs: number): string {
  if (rangeMs <= 6 * 3_600_000) return '1m';
  if (rangeMs <= 48 * 3_600_000) return '5m';
  return '1h';
}

async function refreshChart(): Promise<void> {
  const load = ++chartLoads;
  const device = selected;
  const metric = metricSelect.value;
  if (!device || !metric) {
    clearChart(device ? 'This device has no numeric metric yet.' : '');
    return;
  }
  const to = Date.now();
  const rangeMs = Number(rangeSelect.value);
  const interval = intervalFor(rangeMs);
  const query = new URLSearchParams({ metric, interval, agg: 'avg,min,max,last', from: new Date(to - rangeMs).toISOString(), to: new Date(to).toISOString() });
  let series: SeriesResponse;
  try {
    series = await getJson<SeriesResponse>(`/v1/devices/${encodeURIComponent(device)}/series?${query.toString()}`);
  } catch (error) {
    if (load === chartLoads) clearChart(`No chart: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
  // A later load (another device, metric or range) owns the chart now.
  if (load !== chartLoads) return;
  const xs = series.buckets.map((b) => Date.parse(b.ts) / 1000);
  const data: uPlot.AlignedData = [
    xs,
    series.buckets.map((b) => b.avg ?? null),
    series.buckets.map((b) => b.min ?? null),
    series.buckets.map((b) => b.max ?? null),
  ];
  drawChart(data, metric, [(to - rangeMs) / 1000, to / 1000]);
  const last = series.buckets.at(-1);
  chartBox.dataset.device = device;
  chartBox.dataset.points = String(xs.length);
  chartBox.dataset.lastValue = last?.last === undefined ? '' : String(last.last);
  $('chart-note').textContent =
    `${metric}, ${interval} buckets (avg, with min and max), ${xs.length} non-empty; last value ${last?.last === undefined ? '–' : formatValue(last.last)}`;
}

function drawChart(data: uPlot.AlignedData, metric: string, xRange: [number, number]): void {
  const width = Math.max(280, chartBox.clientWidth);
  const height = window.innerWidth < 640 ? 240 : 320;
  if (plot && plot.series[1]?.label === metric) {
    plot.setScale('x', { min: xRange[0], max: xRange[1] });
    plot.setData(data, false);
    plot.setScale('x', { min: xRange[0], max: xRange[1] });
    return;
  }
  plot?.destroy();
  const accent = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb';
  plot = new uPlot(
    {
      width,
      height,
      scales: { x: { time: true, range: () => [xRange[0], xRange[1]] } },
      series: [
        {},
        { label: metric, stroke: accent, width: 2, points: { show: true, size: 5 } },
        { label: 'min', stroke: '#9ca3af', dash: [4, 4], points: { show: false } },
        { label: 'max', stroke: '#9ca3af', dash: [4, 4], points: { show: false } },
      ],
    },
    data,
    chartBox,
  );
}

function setStatus(text: string): void {
  statusLine.textContent = text;
}

async function refresh(): Promise<void> {
  try {
    await loadFleet();
    await refreshChart();
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken('That token was refused; enter a read token.');
      return;
    }
    setStatus(`refresh failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function schedule(): void {
  window.clearTimeout(timer);
  if (document.visibilityState === 'visible' && token) timer = window.setTimeout(() => void refresh().finally(schedule), REFRESH_MS);
}

function askForToken(message: string): void {
  token = undefined;
  localStorage.removeItem(TOKEN_KEY);
  window.clearTimeout(timer);
  $('token-form').hidden = false;
  $('fleet-section').hidden = true;
  $('chart-section').hidden = true;
  $('forget-token').hidden = true;
  setStatus(message);
}

function start(): void {
  $('token-form').hidden = true;
  $('fleet-section').hidden = false;
  $('forget-token').hidden = false;
  // Back after a refused token: the device chosen before is shown again.
  $('chart-section').hidden = selected === undefined;
  void refresh().finally(schedule);
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $<HTMLInputElement>('token-input').value.trim();
  localStorage.setItem(TOKEN_KEY, token);
  start();
});
$('forget-token').addEventListener('click', () => askForToken('Token forgotten.'));
metricSelect.addEventListener('change', showChart);
rangeSelect.addEventListener('change', () => {
  showChart();
  if (selected !== undefined) scanMetrics(selected);
});
silentSelect.addEventListener('change', renderFleet);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && token) void refresh().finally(schedule);
  else window.clearTimeout(timer);
});
window.addEventListener('resize', () => plot?.setSize({ width: Math.max(280, chartBox.clientWidth), height: window.innerWidth < 640 ? 240 : 320 }));

if (token) start();
else askForToken('Enter a read token to see the fleet.');

/**
 * The playground: one image, one request with a latency budget (or a forced width), the answer
 * drawn, and a burst of the same request with the trade-off charted live from /stats.
 */
import { Api, ApiError, type Answer, type ModelInfo, type ModelsAnswer, type Result, type StatsSnapshot } from './api.js';
import { drawChart, type Series } from './chart.js';
import { drawBoxes, drawImage } from './draw.js';
import { windowSeries } from './stats-window.js';

type Endpoint = '/classify' | '/detect';
interface Sample {
  file: string;
  endpoint: Endpoint;
  caption: string;
}

const WIDTH_COLOURS = ['#7c3aed', '#2563eb', '#059669', '#d97706', '#dc2626', '#0891b2'];
const STAGE_COLOURS = ['#9ca3af', '#60a5fa', '#34d399', '#fbbf24', '#f472b6', '#a78bfa'];
const BUDGET_RANGE = { minMs: 1, maxMs: 2000 };
const POLL_MS = 1000;
/** A browser opens at most 6 HTTP/1.1 connections to one server: more requests at once only queue in it. */
const BROWSER_CONNECTIONS = 6;
const WINDOW_SNAPSHOTS = 61; // a minute of polls

const api = new Api();
const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  service: element<HTMLParagraphElement>('service'),
  keyField: element<HTMLLabelElement>('key-field'),
  apiKey: element<HTMLInputElement>('api-key'),
  samples: element<HTMLDivElement>('samples'),
  drop: element<HTMLLabelElement>('drop'),
  file: element<HTMLInputElement>('file'),
  model: element<HTMLSelectElement>('model'),
  budget: element<HTMLInputElement>('budget'),
  budgetValue: element<HTMLOutputElement>('budget-value'),
  width: element<HTMLSelectElement>('width'),
  send: element<HTMLButtonElement>('send'),
  answer: element<HTMLElement>('answer'),
  image: element<HTMLCanvasElement>('image'),
  why: element<HTMLParagraphElement>('why'),
  facts: element<HTMLDListElement>('facts'),
  timing: element<HTMLDivElement>('timing'),
  timingLegend: element<HTMLParagraphElement>('timing-legend'),
  results: element<HTMLOListElement>('results'),
  error: element<HTMLParagraphElement>('error'),
  burst: element<HTMLButtonElement>('burst'),
  burstSize: element<HTMLInputElement>('burst-size'),
  burstConcurrency: element<HTMLInputElement>('burst-concurrency'),
  burstStatus: element<HTMLOutputElement>('burst-status'),
  windowSummary: element<HTMLParagraphElement>('window-summary'),
  chartRate: element<HTMLCanvasElement>('chart-rate'),
  chartP99: element<HTMLCanvasElement>('chart-p99'),
  chartAccuracy: element<HTMLCanvasElement>('chart-accuracy'),
  chartTradeoff: element<HTMLCanvasElement>('chart-tradeoff'),
  widths: element<HTMLTableElement>('widths'),
};

const state = {
  listing: undefined as ModelsAnswer | undefined,
  image: undefined as Blob | undefined,
  endpoint: '/classify' as Endpoint,
  snapshots: [] as StatsSnapshot[],
};

// ---- the budget slider: logarithmic, 1 ms .. 2 s

function budgetMs(): number {
  const t = Number(ui.budget.value) / Number(ui.budget.max);
  const ms = BUDGET_RANGE.minMs * (BUDGET_RANGE.maxMs / BUDGET_RANGE.minMs) ** t;
  return ms < 10 ? Math.round(ms * 10) / 10 : Math.round(ms);
}

function setBudget(ms: number): void {
  const t = Math.log(ms / BUDGET_RANGE.minMs) / Math.log(BUDGET_RANGE.maxMs / BUDGET_RANGE.minMs);
  ui.budget.value = String(Math.round(Math.min(1, Math.max(0, t)) * Number(ui.budget.max)));
  ui.budgetValue.value = `${budgetMs()} ms`;
}

// ---- models and widths

function currentModel(): ModelInfo | undefined {
  return state.listing?.models.find((m) => m.name === ui.model.value);
}

function fillModels(): void {
  const task = state.endpoint === '/classify' ? 'classification' : 'detection';
  const models = state.listing?.models.filter((m) => m.task === task) ?? [];
  ui.model.replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  fillWidths();
}

function fillWidths(): void {
  const model = currentModel();
  const keep = ui.width.value;
  ui.width.replaceChildren(new Option('not sent: the service chooses', ''), ...(model?.widths ?? []).map((w) => new Option(`${w.width}x (${percent(w.accuracy)} ${model!.metric})`, String(w.width))));
  if ([...ui.width.options].some((o) => o.value === keep)) ui.width.value = keep;
  drawTradeoff();
}

function widthColour(width: number): string {
  const index = currentModel()?.widths.findIndex((w) => w.width === width) ?? 0;
  return WIDTH_COLOURS[Math.max(0, index) % WIDTH_COLOURS.length]!;
}

// ---- the image

async function loadSamples(): Promise<void> {
  const samples = (await (await fetch('samples/samples.json')).json()) as Sample[];
  for (const sample of samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = sample.caption;
    button.dataset.file = sample.file;
    button.setAttribute('aria-pressed', 'false');
    const img = document.createElement('img');
    img.src = `samples/${sample.file}`;
    img.alt = sample.caption;
    button.append(img);
    button.addEventListener('click', () => void chooseSample(sample, button));
    ui.samples.append(button);
  }
  const first = samples[0];
  if (first) await chooseSample(first, ui.samples.querySelector('button')!);
}

async function chooseSample(sample: Sample, button: HTMLButtonElement): Promise<void> {
  for (const b of ui.samples.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === button));
  setEndpoint(sample.endpoint);
  await chooseImage(await (await fetch(`samples/${sample.file}`)).blob());
}

async function chooseImage(image: Blob): Promise<void> {
  state.image = image;
  await send();
}

function setEndpoint(endpoint: Endpoint): void {
  state.endpoint = endpoint;
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="endpoint"]')) radio.checked = radio.value === endpoint;
  fillModels();
}

// ---- one request

function forcedWidth(): number | undefined {
  return ui.width.value === '' ? undefined : Number(ui.width.value);
}

let latestRequest = 0;

async function send(): Promise<void> {
  if (!state.image || !ui.model.value) return;
  const image = state.image;
  const id = (latestRequest += 1);
  const result = await api.infer(state.endpoint, ui.model.value, image, budgetMs(), forcedWidth());
  if (id === latestRequest) await show(result, image); // an answer overtaken by a later request is not shown
}

async function show(result: Result, image: Blob): Promise<void> {
  ui.error.hidden = result.ok;
  if (!result.ok) {
    ui.error.textContent = `${result.status} ${result.error}: ${result.message}`;
    return;
  }
  const { answer } = result;
  const bitmap = await createImageBitmap(image);
  const scale = drawImage(ui.image, bitmap);
  if ('detections' in answer) drawBoxes(ui.image, scale, answer.detections);
  ui.image.dataset.width = String(answer.width);
  ui.answer.dataset.answers = String(Number(ui.answer.dataset.answers ?? 0) + 1);
  ui.why.replaceChildren(why(answer));
  const facts: [string, string][] = [
    ['width', `${answer.width}x (${answer.widthSelection === 'forced' ? 'forced' : 'chosen by the service'})`],
    ['expected accuracy', `${percent(answer.expectedAccuracy)} ${answer.metric}`],
    ['budget', `${answer.budget.ms} ms (${answer.budget.source === 'header' ? 'X-Latency-Budget' : 'the default'})`],
    ['predicted', `${answer.budget.predictedMs.toFixed(1)} ms`],
    ['took', `${answer.timings.totalMs.toFixed(1)} ms in the server, ${result.roundTripMs.toFixed(1)} ms round trip`],
    ['outcome', answer.budget.outcome],
    ['batch', `${answer.batchSize} request${answer.batchSize === 1 ? '' : 's'}`],
  ];
  ui.facts.replaceChildren(
    ...facts.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.fact = term;
      if (term === 'outcome') dd.className = `outcome-${value}`;
      return [dt, dd];
    }),
  );
  showTiming(result.serverTiming.filter((t) => t.name !== 'total' && t.name !== 'inference'));
  showResults(answer);
}

function why(answer: Answer): Text {
  const { budget } = answer;
  const took = `took ${answer.timings.totalMs.toFixed(1)} ms: ${budget.met ? 'met' : 'missed'}`;
  if (answer.widthSelection === 'forced') return new Text(`Width ${answer.width}x, forced by X-Model-Width; the budget of ${budget.ms} ms was ${budget.met ? 'met' : 'not met'}.`);
  const p99 = `p99 predicted ${budget.predictedMs.toFixed(1)} ms`;
  if (budget.predictedMs > budget.ms) {
    return new Text(`Width ${answer.width}x: its ${p99}, over ${budget.ms} ms given the queue, yet no width was likelier to bring more accuracy in time (${took}).`);
  }
  return new Text(`Width ${answer.width}x: the most accuracy expected within ${budget.ms} ms given the queue (${p99}, ${took}).`);
}

function showTiming(stages: { name: string; ms: number }[]): void {
  const total = stages.reduce((a, s) => a + s.ms, 0) || 1;
  ui.timing.replaceChildren(
    ...stages.map((stage, i) => {
      const span = document.createElement('span');
      span.style.width = `${(100 * stage.ms) / total}%`;
      span.style.background = STAGE_COLOURS[i % STAGE_COLOURS.length]!;
      span.title = `${stage.name}: ${stage.ms.toFixed(2)} ms`;
      return span;
    }),
  );
  ui.timingLegend.replaceChildren(
    new Text('Server-Timing:'),
    ...stages.flatMap((stage, i) => {
      const swatch = document.createElement('i');
      swatch.style.background = STAGE_COLOURS[i % STAGE_COLOURS.length]!;
      return [swatch, new Text(`${stage.name} ${stage.ms.toFixed(2)} ms`)];
    }),
  );
}

function showResults(answer: Answer): void {
  const rows: readonly { label: string; score: number }[] = 'predictions' in answer ? answer.predictions : answer.detections;
  ui.results.replaceChildren(
    ...rows.map((row) => {
      const li = document.createElement('li');
      li.textContent = `${row.label} ${row.score.toFixed(3)}`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.round(120 * row.score)}px`;
      li.append(bar);
      return li;
    }),
  );
  if (rows.length === 0) ui.results.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'nothing found above the threshold' }));
}

// ---- a burst from the browser

async function burst(): Promise<void> {
  if (!state.image || !ui.model.value) return;
  const total = clamp(Number(ui.burstSize.value), 1, 2000);
  const concurrency = clamp(Number(ui.burstConcurrency.value), 1, BROWSER_CONNECTIONS);
  const image = state.image;
  const [endpoint, model, budget, width] = [state.endpoint, ui.model.value, budgetMs(), forcedWidth()];
  let sent = 0;
  let answered = 0;
  const errors = new Map<string, number>();
  ui.burst.disabled = true;
  const report = (): void => {
    const failed = [...errors].map(([code, n]) => `${n} ${code}`).join(', ');
    ui.burstStatus.value = `${answered} of ${total} answered${failed ? `; errors: ${failed}` : ''}`;
  };
  const loop = async (): Promise<void> => {
    while (sent < total) {
      sent += 1;
      const result = await api.infer(endpoint, model, image, budget, width).catch((error: Error): Result => ({ ok: false, status: 0, error: 'network', message: error.message }));
      answered += 1;
      if (!result.ok) errors.set(result.error, (errors.get(result.error) ?? 0) + 1);
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, loop));
  ui.burst.disabled = false;
  await refreshModels(); // the latency estimates moved
}

// ---- live charts from /stats

async function poll(): Promise<void> {
  try {
    state.snapshots.push(await api.stats());
    if (state.snapshots.length > WINDOW_SNAPSHOTS) state.snapshots.shift();
    drawLive();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  } finally {
    setTimeout(() => void poll(), POLL_MS);
  }
}

function drawLive(): void {
  const model = currentModel();
  if (!model) return;
  const accuracy = new Map(model.widths.map((w) => [w.width, w.accuracy]));
  const points = windowSeries(state.snapshots, model.name, accuracy);
  const start = points[0]?.at ?? Date.now();
  const x = (at: number): number => (at - start) / 1000;
  const perWidth = (value: (p: (typeof points)[number], width: number) => number | undefined): Series[] =>
    model.widths.map((w) => ({
      label: `${w.width}x`,
      colour: widthColour(w.width),
      points: points.flatMap((p) => {
        const y = value(p, w.width);
        return y === undefined ? [] : [{ x: x(p.at), y }];
      }),
    }));
  const seconds = (v: number): string => `${v.toFixed(0)} s`;
  drawChart(ui.chartRate, perWidth((p, w) => p.rates.get(w)), { title: `${model.name}: requests per second, by width`, xLabel: 'time', yLabel: 'req/s', lines: true, yMin: 0, xTicks: seconds });
  drawChart(ui.chartP99, perWidth((p, w) => p.p99Ms.get(w)), { title: 'p99 latency, by width (5 s window)', xLabel: 'time', yLabel: 'ms', lines: true, yMin: 0, xTicks: seconds });
  const delivered = points.flatMap((p) => (p.accuracy === null ? [] : [{ x: x(p.at), y: 100 * p.accuracy }]));
  // between the narrowest and the widest width's accuracy, so a constant line is not the whole chart
  const accuracies = model.widths.map((w) => 100 * w.accuracy);
  const range = { yMin: Math.floor(Math.min(...accuracies)) - 1, yMax: Math.ceil(Math.max(...accuracies)) + 1 };
  drawChart(ui.chartAccuracy, [{ label: `delivered ${model.metric}`, colour: '#111827', points: delivered }], { title: 'delivered accuracy (5 s window)', xLabel: 'time', yLabel: '%', lines: true, xTicks: seconds, ...range });
  const answered = points.reduce((a, p) => a + p.answered, 0);
  const shed = points.at(-1)?.shed ?? 0;
  ui.windowSummary.dataset.answered = String(answered);
  ui.windowSummary.textContent = `Last minute: ${answered} requests answered by ${model.name}` + (delivered.length ? `, delivering ${delivered.at(-1)!.y.toFixed(1)}% ${model.metric} lately` : '') + (shed ? `, ${shed} shed in the last 5 s` : '') + '.';
}

function drawTradeoff(): void {
  const model = currentModel();
  if (!model) return;
  drawChart(
    ui.chartTradeoff,
    model.widths.map((w) => ({ label: `${w.width}x`, colour: widthColour(w.width), points: [{ x: w.latencyMs.mean, y: 100 * w.accuracy }] })),
    { title: `${model.name}: ${model.metric} against latency, per width`, xLabel: "the latency model's mean, ms", yLabel: `% ${model.metric}`, lines: false },
  );
  const header = document.createElement('tr');
  for (const title of ['width', model.metric, 'mean ms', 'tail ms']) header.append(Object.assign(document.createElement('th'), { textContent: title }));
  ui.widths.replaceChildren(
    header,
    ...model.widths.map((w) => {
      const tr = document.createElement('tr');
      for (const cell of [`${w.width}x`, percent(w.accuracy), w.latencyMs.mean.toFixed(2), w.latencyMs.tail.toFixed(2)]) tr.append(Object.assign(document.createElement('td'), { textContent: cell }));
      return tr;
    }),
  );
}

// ---- start

async function refreshModels(): Promise<void> {
  state.listing = await api.models();
  drawTradeoff();
}

async function start(): Promise<void> {
  try {
    state.listing = await api.models();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      ui.service.textContent = 'This service needs an API key.';
      ui.keyField.hidden = false;
      return;
    }
    throw error;
  }
  const { executionProvider, workers, defaultLatencyBudgetMs, models } = state.listing;
  ui.service.textContent = `${models.length} models on ${workers} workers, ${executionProvider} execution provider`;
  setBudget(defaultLatencyBudgetMs);
  fillModels();
  await loadSamples();
  void poll();
}

function clamp(v: number, min: number, max: number): number {
  return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : min;
}

function percent(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

ui.apiKey.addEventListener('change', () => {
  api.apiKey = ui.apiKey.value.trim();
  ui.keyField.hidden = true;
  void start();
});
ui.budget.addEventListener('input', () => (ui.budgetValue.value = `${budgetMs()} ms`));
ui.budget.addEventListener('change', () => void send());
ui.width.addEventListener('change', () => void send());
ui.model.addEventListener('change', () => {
  fillWidths();
  void send();
});
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="endpoint"]')) radio.addEventListener('change', () => setEndpoint(radio.value as Endpoint));
ui.send.addEventListener('click', () => void send());
ui.burst.addEventListener('click', () => void burst());
ui.file.addEventListener('change', () => {
  const file = ui.file.files?.[0];
  if (file) void chooseImage(file);
});
ui.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  ui.drop.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file) void chooseImage(file);
});
void start();

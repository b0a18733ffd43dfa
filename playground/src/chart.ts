/**
 * A small line and scatter chart on a canvas: the page works offline and without a build step, and
 * what it plots (a few series of at most a minute of points) does not need a charting library.
 */

export interface Series {
  label: string;
  colour: string;
  points: { x: number; y: number }[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** join the points (time series) or only mark them (trade-off plots) */
  lines: boolean;
  yMin?: number;
  yMax?: number;
  xTicks?: (x: number) => string;
}

// the title on the first line, the legend on the second
const PAD = { left: 46, right: 10, top: 36, bottom: 30 };

export function drawChart(canvas: HTMLCanvasElement, series: readonly Series[], options: ChartOptions): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#222';
  ctx.fillText(options.title, PAD.left, 14);
  const all = series.flatMap((s) => s.points);
  const plotted = { x: PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  ctx.strokeStyle = '#999';
  ctx.strokeRect(plotted.x, plotted.y, plotted.w, plotted.h);
  if (all.length === 0) {
    ctx.fillStyle = '#777';
    ctx.fillText('no data yet', plotted.x + 8, plotted.y + 18);
    return;
  }
  const xMin = Math.min(...all.map((p) => p.x));
  const xMax = Math.max(...all.map((p) => p.x));
  const yMin = options.yMin ?? Math.min(...all.map((p) => p.y));
  const yMax = Math.max(options.yMax ?? -Infinity, ...all.map((p) => p.y), yMin + 1e-9);
  canvas.dataset.yMax = String(yMax); // what the chart's top stands for (the browser test reads it)
  const xSpan = xMax - xMin || 1;
  const ySpan = yMax - yMin || 1;
  const px = (x: number): number => plotted.x + ((x - xMin) / xSpan) * plotted.w;
  const py = (y: number): number => plotted.y + plotted.h - ((y - yMin) / ySpan) * plotted.h;
  // axes: the extremes, labelled
  ctx.fillStyle = '#444';
  ctx.textAlign = 'right';
  ctx.fillText(formatNumber(yMax), plotted.x - 4, plotted.y + 8);
  ctx.fillText(formatNumber(yMin), plotted.x - 4, plotted.y + plotted.h);
  ctx.textAlign = 'left';
  const tick = options.xTicks ?? formatNumber;
  ctx.fillText(tick(xMin), plotted.x, plotted.y + plotted.h + 12);
  ctx.textAlign = 'right';
  ctx.fillText(tick(xMax), plotted.x + plotted.w, plotted.y + plotted.h + 12);
  ctx.textAlign = 'center';
  ctx.fillText(`${options.xLabel}`, plotted.x + plotted.w / 2, plotted.y + plotted.h + 24);
  ctx.save();
  ctx.translate(10, plotted.y + plotted.h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(options.yLabel, 0, 0);
  ctx.restore();
  ctx.textAlign = 'left';
  // the series, and a legend along the top
  let legendX = PAD.left;
  for (const s of series) {
    ctx.fillStyle = s.colour;
    ctx.fillRect(legendX, 20, 10, 10);
    ctx.fillStyle = '#222';
    ctx.fillText(s.label, legendX + 14, 29);
    legendX += ctx.measureText(s.label).width + 26;
  }
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 2;
    if (options.lines && s.points.length > 1) {
      ctx.beginPath();
      s.points.forEach((p, i) => (i === 0 ? ctx.moveTo(px(p.x), py(p.y)) : ctx.lineTo(px(p.x), py(p.y))));
      ctx.stroke();
    }
    for (const p of s.points) {
      ctx.beginPath();
      ctx.arc(px(p.x), py(p.y), options.lines ? 2 : 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function formatNumber(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

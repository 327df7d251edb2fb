/** The karma history chart (uPlot, loaded only on an agent's page: it is not in the first load). */
import uPlot from 'uplot';

/** Draws `points` ([{t: seconds, karma}]) into `target`, `width` pixels wide; returns the chart. */
export interface KarmaPoint {
  /** Seconds since the epoch. */
  t: number;
  karma: number;
}

export function drawKarmaChart(target: HTMLElement, points: readonly KarmaPoint[], width: number): uPlot {
  return new uPlot(
    {
      width,
      height: 180,
      title: 'Karma over time',
      scales: { x: { time: true } },
      series: [{}, { label: 'karma', stroke: '#1d4ed8', width: 2, fill: 'rgba(29, 78, 216, 0.08)' }],
      axes: [{ stroke: '#333' }, { stroke: '#333' }],
    },
    [points.map((p) => p.t), points.map((p) => p.karma)],
    target,
  );
}

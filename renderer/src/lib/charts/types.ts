import type { Point } from '../downsample.js';

/** One line of a LineChart. `tone` picks a series colour (1–6, see styles/charts.css). */
export interface LineSeries {
  id: string;
  label: string;
  points: Point[];
  tone: number;
  dashed?: boolean;
  /** Draws a dot on each point (per-epoch series have few). */
  markers?: boolean;
}

export interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** One point of the History scatter, with its accuracy interval. */
export interface ScatterPoint {
  id: number;
  label: string;
  x: number;
  y: number;
  lo: number;
  hi: number;
  onFront: boolean;
}

export type Format = (v: number) => string;

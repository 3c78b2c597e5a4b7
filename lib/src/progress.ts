// Progress for long steps. Producers (teacher, runtime, cost) call an `onProgress(state)` callback; the notebook
// side renders it (one updating output in Jupyter, a line on stderr in a terminal).

export interface ProgressState {
  label: string;
  done: number;
  total: number;
  failed?: number;
  costUsd?: number;
  /** Free-form extra columns, e.g. { loss: 0.42 } or { cached: 12 }. */
  extra?: Record<string, string | number>;
}

export type OnProgress = (state: ProgressState) => void;

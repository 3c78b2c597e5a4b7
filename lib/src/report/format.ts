// Numbers rounded for reading on the run pages: 2-3 significant figures, thousands separators, units. The exact values
// stay in run.json; these only decide how a value is shown.

const DASH = "—";

/** `sig` significant figures (default 3), thousands separators, no trailing zeros, a real minus sign. */
export function num(value: number | null | undefined, sig = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  if (value === 0) return "0";
  const rounded = Number(value.toPrecision(sig));
  const decimals = Math.max(0, sig - 1 - Math.floor(Math.log10(Math.abs(rounded))));
  const text = rounded.toLocaleString("en-US", { maximumFractionDigits: Math.min(decimals, 20) });
  return text.replace(/^-/, "−");
}

/** A count of things: exact below a million (with separators), "2.15 million" above. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  return Math.abs(n) >= 1e6 ? `${num(n / 1e6)} million` : Math.round(n).toLocaleString("en-US");
}

/** A kappa or an agreement: two decimals (0.62, −0.01) reads better than significant figures near zero. */
export function fixed2(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  const text = value.toFixed(2);
  return (text === "-0.00" ? "0.00" : text).replace(/^-/, "−");
}

/** An agreement as a percentage: 0.6234 -> "62%". */
export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  const pct = value * 100;
  // 99.6% must not round to 100%: only a perfect score reads 100%.
  return `${num(pct, pct >= 99.5 && pct < 100 ? 3 : 2)}%`;
}

/** US dollars: "$4,720", "$12.3", "$0.0042"; large sums keep whole dollars. */
export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  if (Math.abs(value) >= 1000) return `$${Math.round(value).toLocaleString("en-US")}`;
  return `$${num(value, 3)}`;
}

/** A duration: "42 s", "8.5 min", "1.2 h". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  if (seconds < 90) return `${num(seconds, 2)} s`;
  if (seconds < 5400) return `${num(seconds / 60, 2)} min`;
  return `${num(seconds / 3600, 2)} h`;
}

/** A byte count: "9.8 MB" (decimal units, as file managers show). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${num(v, 2)} ${units[i]}`;
}

/** A parameter value as the user wrote it: strings bare, everything else as JSON. */
export function paramValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

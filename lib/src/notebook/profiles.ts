// Profiles: named parameter sets kept as data (data/profiles.json): `default` is what `npm start` runs, `test` the
// fast set the notebook tests use.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import { UsageError, type Parameter, type ParamValue } from "./parameters";

export interface Profiles { [profile: string]: { description: string; all?: Record<string, ParamValue>; notebooks?: Record<string, Record<string, ParamValue>> } }

export function loadProfiles(file = path.join(paths.dataDir, "profiles.json")): Profiles {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Profiles;
}

/** A profile's values for one notebook: its `all` values that the notebook declares, then its notebook-specific ones. */
export function profileValues(profile: string, notebookName: string, declared: Parameter[], profiles = loadProfiles()): Record<string, ParamValue> {
  const p = profiles[profile];
  if (!p) throw new UsageError(`unknown profile "${profile}"; profiles: ${Object.keys(profiles).join(", ")}`);
  const names = new Set(declared.map((d) => d.name));
  const shared = Object.fromEntries(Object.entries(p.all ?? {}).filter(([k]) => names.has(k)));
  return { ...shared, ...(p.notebooks?.[notebookName] ?? {}) };
}

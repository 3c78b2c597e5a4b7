// The shared library behind the notebooks. One module per concern; notebooks import namespaces:
//   import { data, task, teacher } from "@distill/lib";
export * as paths from "./paths";
export * as data from "./data";
export * as dataset from "./dataset";
export * as task from "./task";
export * as store from "./store";
export * as teacher from "./teacher";
export * as tokens from "./tokens";
export * as runtime from "./runtime";
// Not "infer": that is a TypeScript keyword in type position, and tslab then cannot name infer.X types across cells.
export * as inference from "./infer";
export * as evaluate from "./evaluate";
export * as cost from "./cost";
export * as plots from "./plots";
export * as progress from "./progress";
export * as report from "./report";
export * as notebook from "./notebook";
export * as pipeline from "./pipeline";

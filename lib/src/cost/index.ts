// cost (notebook 4): what labeling a corpus costs with each option, from dated prices and measured throughput.
//   table.ts        GPU cost, the cost table, the 2023 original's table, break-even, MFU
//   throughput.ts   the student's throughput: measured by the infer job over corpus records, or imported
//   gpu-estimate.ts its throughput on each GPU and the basis: measured on that chip, else a roofline estimate
//   cells.ts        what notebook 4 calls besides (tokens per request per API model, fixed costs, figures)
// Prices themselves are shared (../prices.ts, the `prices` namespace): the teacher counts its spending with them.
// May import the shared modules and folders (corpus, runtime, report, notebook) and the earlier steps (label, train,
// infer); nothing imports cost but the CLI.
export * from "./cells";
export * from "./gpu-estimate";
export * from "./table";
export * from "./throughput";

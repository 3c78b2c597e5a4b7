// Which provider serves a teacher config: the one place a new provider is registered (see teacher.ts).
import type { Prices } from "../prices";
import { teacherMessages, type Task } from "../task";
import { fileProvider } from "./file";
import { localProvider, localRequest } from "./local";
import { openAiProvider, openAiRequest } from "./openai";
import { settings, type Provider, type Settings, type TeacherConfig } from "./teacher";

/** The provider for validated settings (loads the local model on first use). */
export async function createProvider(task: Task, s: Settings, prices: Prices | undefined): Promise<Provider> {
  if (s.provider === "labels") return await fileProvider(task, s);
  return s.provider === "openai" ? openAiProvider(task, s, prices) : await localProvider(task, s);
}

/** The exact request for one record text (its requestKey is the store key), without starting a provider. A labels
 *  file answers by id, from its content: build its requests with createProvider (they need the file read). */
export function teacherRequest(task: Task, text: string, config: TeacherConfig): Record<string, unknown> {
  const s = settings(config);
  if (s.provider === "labels") throw new Error(`teacherRequest: a labels file's requests depend on the file; use createProvider(...).request(text, id)`);
  return s.provider === "openai" ? openAiRequest(task, teacherMessages(task, text), s) : localRequest(task, text, s);
}

// Which provider serves a teacher config: the one place a new provider is registered (see teacher.ts).
import type { Prices } from "../prices";
import { teacherMessages, type Task } from "../task";
import { localProvider, localRequest } from "./local";
import { openAiProvider, openAiRequest } from "./openai";
import { settings, type Provider, type Settings, type TeacherConfig } from "./teacher";

/** The provider for validated settings (loads the local model on first use). */
export async function createProvider(task: Task, s: Settings, prices: Prices | undefined): Promise<Provider> {
  return s.provider === "openai" ? openAiProvider(task, s, prices) : await localProvider(task, s);
}

/** The exact request for one record text (its requestKey is the store key), without starting a provider. */
export function teacherRequest(task: Task, text: string, config: TeacherConfig): Record<string, unknown> {
  const s = settings(config);
  return s.provider === "openai" ? openAiRequest(task, teacherMessages(task, text), s) : localRequest(task, text, s);
}

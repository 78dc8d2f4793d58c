// A number's bot as its editor holds it (a draft: options with stable keys, numbers as typed),
// turned into the API's BotConfig and back, checked before saving, and played out for the
// preview. What the customer sees mirrors core/desk/bot.py exactly: the greeting with {nome}
// filled, the menu rendered as `render` does (in one message with the greeting or "not
// understood" before it, as `_ask` sends it), an answer read as `choice` and
// `wants_a_person` read it, and the same steps (not understood, sub-menu, queue, fallback).
import type { BotConfig, BotMenu, BotOption, Department } from "../api/types";

export const MAX_DEPTH = 3;
export const MAX_OPTIONS = 20;
const MAX_LABEL = 60;
export const PREVIEW_NAME = "Maria";

// The server's defaults (BotConfig in core/desk/bot.py), for a config that leaves one out.
const DEFAULTS = {
  greeting: "Olá, {nome}! 👋 Obrigado por falar com a gente.",
  prompt: "Escolha uma opção:",
  invalid_reply: "Desculpe, não entendi. Responda com o número de uma das opções.",
  routed_reply: "Certo! Já vamos te atender. 😉",
  max_tries: 3,
  timeout_s: 600,
};

export type DraftOption = {
  key: number;
  label: string;
  to: "department" | "menu";
  department: number | null;
  // Kept while the option leads to a department, so switching back restores the sub-menu.
  menu: DraftMenu;
};
export type DraftMenu = { prompt: string; options: DraftOption[] };
export type Draft = {
  enabled: boolean;
  greeting: string;
  menu: DraftMenu;
  invalidReply: string;
  routedReply: string;
  maxTries: string;
  timeoutMin: string;
  onTimeout: "queue" | "close"; // an unanswered menu: to the fallback queue, or closed
  fallback: number | null; // null: the default department
};

let lastKey = 0;
const nextKey = () => ++lastKey;

export function newOption(label = "", department: number | null = null): DraftOption {
  return { key: nextKey(), label, to: "department", department, menu: { prompt: DEFAULTS.prompt, options: [] } };
}

/** A fresh sub-menu: the usual question and one option to fill in. */
export function newSubMenu(): DraftMenu {
  return { prompt: DEFAULTS.prompt, options: [newOption()] };
}

function menuFrom(menu: BotMenu | null | undefined): DraftMenu {
  return {
    prompt: menu?.prompt ?? DEFAULTS.prompt,
    options: (menu?.options ?? []).map((o: BotOption) => ({
      key: nextKey(),
      label: o.label,
      to: o.menu ? "menu" : "department",
      department: o.department_id ?? null,
      menu: o.menu ? menuFrom(o.menu) : { prompt: DEFAULTS.prompt, options: [] },
    })),
  };
}

function minutes(seconds: number): string {
  return String(Math.round((seconds / 60) * 100) / 100);
}

export function draftFrom(config: BotConfig): Draft {
  return {
    enabled: config.enabled ?? false,
    greeting: config.greeting ?? DEFAULTS.greeting,
    menu: menuFrom(config.menu),
    invalidReply: config.invalid_reply ?? DEFAULTS.invalid_reply,
    routedReply: config.routed_reply ?? DEFAULTS.routed_reply,
    maxTries: String(config.max_tries ?? DEFAULTS.max_tries),
    timeoutMin: minutes(config.timeout_s ?? DEFAULTS.timeout_s),
    onTimeout: config.on_timeout ?? "queue",
    fallback: config.fallback_department_id ?? null,
  };
}

/** Whether the number looks like it never had a bot: off, and a menu without options. */
export function untouched(config: BotConfig): boolean {
  return !config.enabled && (config.menu?.options?.length ?? 0) === 0;
}

/** A first menu to start from: one option per department, to its queue. */
export function suggestedMenu(departments: Department[]): DraftMenu {
  return { prompt: DEFAULTS.prompt, options: departments.map((d) => newOption(d.name, d.id)) };
}

function menuToApi(menu: DraftMenu): BotMenu {
  return {
    prompt: menu.prompt,
    options: menu.options.map((o) =>
      o.to === "menu" ? { label: o.label, menu: menuToApi(o.menu) } : { label: o.label, department_id: o.department },
    ),
  };
}

export function timeoutSeconds(draft: Draft): number {
  return Math.round(Number(draft.timeoutMin.replace(",", ".")) * 60);
}

export function toApi(draft: Draft): BotConfig {
  return {
    enabled: draft.enabled,
    greeting: draft.greeting,
    menu: menuToApi(draft.menu),
    invalid_reply: draft.invalidReply,
    routed_reply: draft.routedReply,
    max_tries: Number(draft.maxTries),
    timeout_s: timeoutSeconds(draft),
    on_timeout: draft.onTimeout,
    fallback_department_id: draft.fallback,
  };
}

// Field paths are the API's own ("menu.options.0.label"), so a 422 lands where a check does.
export type Problem =
  | "label"
  | "label_long"
  | "destination"
  | "empty_submenu"
  | "too_many"
  | "too_deep"
  | "gone"
  | "max_tries"
  | "timeout"
  | "too_long";
export type Problems = Record<string, Problem | { said: string }>;

function checkMenu(menu: DraftMenu, path: string, found: Problems): void {
  if (menu.options.length > MAX_OPTIONS) found[`${path}.options`] = "too_many";
  menu.options.forEach((o, i) => {
    const at = `${path}.options.${i}`;
    if (!o.label.trim()) found[`${at}.label`] = "label";
    else if (o.label.length > MAX_LABEL) found[`${at}.label`] = "label_long";
    if (o.to === "department" && o.department === null) found[`${at}.department_id`] = "destination";
    if (o.to === "menu") {
      if (o.menu.options.length === 0) found[`${at}.department_id`] = "empty_submenu";
      checkMenu(o.menu, `${at}.menu`, found);
    }
  });
}

/** What must be fixed before saving (empty when nothing). Lengths are the server's to judge. */
export function check(draft: Draft): Problems {
  const found: Problems = {};
  checkMenu(draft.menu, "menu", found);
  const tries = Number(draft.maxTries);
  if (!Number.isInteger(tries) || tries < 1 || tries > 10) found.max_tries = "max_tries";
  const seconds = timeoutSeconds(draft);
  if (!Number.isFinite(seconds) || seconds < 10 || seconds > 86_400) found.timeout_s = "timeout";
  return found;
}

/** Where each department id sits in the menu ("menu.options.1.menu.options.0.department_id"). */
function departmentPaths(menu: DraftMenu, path: string, out: [string, number][]): [string, number][] {
  menu.options.forEach((o, i) => {
    const at = `${path}.options.${i}`;
    if (o.to === "department" && o.department !== null) out.push([`${at}.department_id`, o.department]);
    if (o.to === "menu") departmentPaths(o.menu, `${at}.menu`, out);
  });
  return out;
}

/** A 422's details as problems under the fields they name; null when it names none. */
export function problemsOf(details: Record<string, unknown>, draft: Draft): Problems | null {
  const found: Problems = {};
  if (Array.isArray(details.missing)) {
    const missing = new Set(details.missing.filter((id): id is number => typeof id === "number"));
    for (const [path, id] of departmentPaths(draft.menu, "menu", [])) if (missing.has(id)) found[path] = "gone";
    if (draft.fallback !== null && missing.has(draft.fallback)) found.fallback_department_id = "gone";
  }
  if (Array.isArray(details.errors)) {
    for (const error of details.errors as unknown[]) {
      if (typeof error !== "object" || error === null) continue;
      const { field, message } = error as { field?: unknown; message?: unknown };
      if (typeof field !== "string") continue;
      const said = typeof message === "string" ? message : "";
      // An option's own error (neither or both destinations) goes under its destination.
      const path = /\.options\.\d+$/.test(field) ? `${field}.department_id` : field;
      found[path] ??= problemFor(path, said);
    }
  }
  return Object.keys(found).length > 0 ? found : null;
}

function problemFor(path: string, said: string): Problem | { said: string } {
  const last = path.split(".").at(-1) ?? "";
  if (last === "label") return "label_long";
  if (last === "options") return "too_many";
  if (last === "department_id") return "destination";
  if (last === "max_tries") return "max_tries";
  if (last === "timeout_s") return "timeout";
  if (path === "menu") return "too_deep";
  if (["greeting", "prompt", "invalid_reply", "routed_reply"].includes(last)) return "too_long";
  return { said };
}

// What the customer sees.

/** A menu as the server renders it: the prompt, then "1️⃣ label" per option, one a line. */
export function render(menu: DraftMenu): string {
  const lines = [menu.prompt, ...menu.options.map((o, i) => `${i + 1}\uFE0F\u20E3 ${o.label}`)];
  return lines.filter((line) => line !== "").join("\n");
}

export function greet(greeting: string, name: string): string {
  return greeting.replaceAll("{nome}", name).replaceAll(", !", "!").trim();
}

const HUMAN = ["atendente", "humano", "falar com alguem", "pessoa", "operador"];
const NUMBER = /^\s*(\d{1,2})\s*[).:-]?\s*$/;
const KEYCAP = /^\s*(\d)\uFE0F?\u20E3\s*$/;

function plain(text: string): string {
  return text.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "").split(/\s+/).filter(Boolean).join(" ");
}

/** The option an answer picks: its number ("2", "2)", "2️⃣") or its label. */
export function choice(menu: DraftMenu, text: string): DraftOption | null {
  const found = NUMBER.exec(text) ?? KEYCAP.exec(text);
  if (found) return menu.options[Number(found[1]) - 1] ?? null;
  const said = plain(text);
  return (said && menu.options.find((o) => plain(o.label) === said)) || null;
}

export function wantsAPerson(text: string): boolean {
  const said = plain(text);
  return HUMAN.some((word) => said.includes(word));
}

export type Why = "chosen" | "tries" | "person" | "no_menu" | "bot_off" | "unset";
export type Said =
  | { from: "customer" | "bot"; text: string }
  // Into a queue: the department (null: the fallback, itself null for the default one).
  | { from: "queue"; department: number | null; why: Why };

export const FIRST_MESSAGE = "Oi!";

/** The conversation the customer would have with this bot, answering ``answers`` in turn;
 * ``done`` once it reaches a queue (the bot is silent from then on). */
export function play(draft: Draft, answers: string[]): { said: Said[]; done: boolean } {
  const said: Said[] = [{ from: "customer", text: FIRST_MESSAGE }];
  let done = false;
  const route = (department: number | null, why: Why) => {
    // With the bot off a conversation goes where the number sends it (the component knows).
    if (draft.routedReply.trim() && why !== "bot_off") said.push({ from: "bot", text: draft.routedReply });
    said.push({ from: "queue", department: why === "bot_off" ? null : (department ?? draft.fallback), why });
    done = true;
  };
  if (!draft.enabled) {
    route(null, "bot_off");
    return { said, done };
  }
  let menu = draft.menu;
  let tries = 0;
  // The menu goes in one message with what comes before it (the greeting, "not understood").
  const ask = (before: string) => {
    const lead = before.trim();
    if (menu.options.length === 0) {
      if (lead) said.push({ from: "bot", text: lead });
      route(null, "no_menu");
    } else {
      said.push({ from: "bot", text: lead ? `${lead}\n\n${render(menu)}` : render(menu) });
    }
  };
  ask(greet(draft.greeting, PREVIEW_NAME));
  for (const answer of answers) {
    said.push({ from: "customer", text: answer });
    if (done) continue;
    if (wantsAPerson(answer)) {
      route(null, "person");
      continue;
    }
    const picked = choice(menu, answer);
    if (picked?.to === "department") {
      if (picked.department === null) {
        said.push({ from: "queue", department: null, why: "unset" });
        done = true;
      } else route(picked.department, "chosen");
    } else if (picked?.to === "menu") {
      menu = picked.menu;
      tries = 0;
      ask("");
    } else if (++tries >= Math.max(1, Number(draft.maxTries) || 1)) {
      route(null, "tries");
    } else {
      ask(draft.invalidReply);
    }
  }
  return { said, done };
}

// Light or dark: the system's preference until the user picks one with the toggle.
import { useSyncExternalStore } from "react";

export type Theme = "light" | "dark";
const THEME_KEY = "zapdesk.theme";
const system = window.matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set<() => void>();

function chosen(): Theme | null {
  const stored = localStorage.getItem(THEME_KEY);
  return stored === "light" || stored === "dark" ? stored : null;
}

export function currentTheme(): Theme {
  return chosen() ?? (system.matches ? "dark" : "light");
}

function apply(): void {
  document.documentElement.dataset.theme = currentTheme();
  for (const listener of listeners) listener();
}

export function toggleTheme(): void {
  localStorage.setItem(THEME_KEY, currentTheme() === "dark" ? "light" : "dark");
  apply();
}

system.addEventListener("change", apply);
apply();

export function useTheme(): Theme {
  return useSyncExternalStore((listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, currentTheme);
}

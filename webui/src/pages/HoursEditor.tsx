// A department's business hours: always open, or a weekly schedule of spans per day (a day
// without spans is closed), plus the holidays it is closed all day.
import { useId, useState } from "react";
import type { Department } from "../api/types";
import { type Key, currentLocale, useT } from "../lib/i18n";

export type Hours = NonNullable<Department["hours"]>;
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
type Day = (typeof DAYS)[number];
const WEEKDAYS: Day[] = ["tue", "wed", "thu", "fri"];

export const DAY_LABEL: Record<Day, Key> = {
  mon: "hours.mon",
  tue: "hours.tue",
  wed: "hours.wed",
  thu: "hours.thu",
  fri: "hours.fri",
  sat: "hours.sat",
  sun: "hours.sun",
};

/** A usual week to start from: Monday to Friday, 08:00 to 18:00. */
export function officeHours(): Hours {
  return Object.fromEntries(DAYS.slice(0, 5).map((day) => [day, [["08:00", "18:00"]]]));
}

/** The schedule in a few words, days with the same spans together, for the list
 * ("Seg–Sex 08:00–18:00 · Sáb 08:00–12:00"). */
export function useHoursSummary(): (hours: Department["hours"]) => string {
  const t = useT();
  return (hours) => {
    if (hours === null) return t("hours.always");
    const spans = (day: Day) => (hours[day] ?? []).map(([a, b]) => `${a}–${b}`).join(", ");
    const runs: { first: Day; last: Day; text: string }[] = [];
    for (const day of DAYS) {
      const text = spans(day);
      const run = runs.at(-1);
      if (!text) continue;
      if (run && run.text === text && DAYS.indexOf(run.last) === DAYS.indexOf(day) - 1) run.last = day;
      else runs.push({ first: day, last: day, text });
    }
    if (runs.length === 0) return t("hours.never");
    return runs
      .map(({ first, last, text }) =>
        first === last ? `${t(DAY_LABEL[first])} ${text}` : `${t(DAY_LABEL[first])}–${t(DAY_LABEL[last])} ${text}`,
      )
      .join(" · ");
  };
}

type Props = {
  hours: Department["hours"];
  onChange: (hours: Department["hours"]) => void;
  error?: string | undefined;
};

export function HoursEditor({ hours, onChange, error }: Props) {
  const t = useT();
  const errorId = useId();
  const always = hours === null;
  const spansOf = (day: Day) => hours?.[day] ?? [];

  function setDay(day: Day, spans: [string, string][]) {
    const next: Hours = { ...(hours ?? {}) };
    if (spans.length) next[day] = spans;
    else delete next[day];
    onChange(next);
  }

  return (
    <fieldset className="hours" aria-describedby={error ? errorId : undefined}>
      <legend>{t("hours.title")}</legend>
      <label className="check">
        <input type="checkbox" checked={always} onChange={(e) => onChange(e.target.checked ? null : officeHours())} />
        {t("hours.always")}
      </label>
      {!always && (
        <>
          <ul className="hours__days">
            {DAYS.map((day) => {
              const name = t(DAY_LABEL[day]);
              const spans = spansOf(day);
              return (
                <li key={day} className="hours__day" data-day={day}>
                  <span className="hours__name">{name}</span>
                  <span className="hours__spans">
                    {spans.length === 0 && <span className="muted small">{t("hours.closed")}</span>}
                    {spans.map(([start, end], index) => (
                      <span key={index} className="hours__span">
                        <input
                          type="time"
                          aria-label={t("hours.start", { day: name })}
                          value={start}
                          onChange={(e) =>
                            setDay(day, spans.map((s, i) => (i === index ? [e.target.value, s[1]] : s)))
                          }
                        />
                        –
                        <input
                          type="time"
                          aria-label={t("hours.end", { day: name })}
                          value={end}
                          onChange={(e) =>
                            setDay(day, spans.map((s, i) => (i === index ? [s[0], e.target.value] : s)))
                          }
                        />
                        <button
                          type="button"
                          className="icon"
                          aria-label={t("hours.remove", { day: name })}
                          onClick={() => setDay(day, spans.filter((_, i) => i !== index))}
                        >
                          ×
                        </button>
                      </span>
                    ))}
                  </span>
                  <button
                    type="button"
                    className="small ghost"
                    aria-label={t("hours.add_named", { day: name })}
                    onClick={() => setDay(day, [...spans, spans.length ? ["13:00", "18:00"] : ["08:00", "18:00"]])}
                  >
                    + {t("hours.add")}
                  </button>
                </li>
              );
            })}
          </ul>
          <button
            type="button"
            className="small"
            onClick={() => {
              const monday = spansOf("mon");
              const next: Hours = { ...(hours ?? {}) };
              for (const day of WEEKDAYS) {
                if (monday.length) next[day] = monday.map(([a, b]) => [a, b]);
                else delete next[day];
              }
              onChange(next);
            }}
          >
            {t("hours.copy_monday")}
          </button>
        </>
      )}
      {error && (
        <p className="admin-field__error" id={errorId} role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}

type HolidayProps = { holidays: string[]; onChange: (holidays: string[]) => void; error?: string | undefined };

export function HolidaysEditor({ holidays, onChange, error }: HolidayProps) {
  const t = useT();
  const [day, setDay] = useState("");
  const inputId = useId();
  const format = (iso: string) =>
    new Date(`${iso}T12:00:00`).toLocaleDateString(currentLocale(), { day: "numeric", month: "short", year: "numeric" });

  function add() {
    if (!day || holidays.includes(day)) return;
    onChange([...holidays, day].sort());
    setDay("");
  }

  return (
    <fieldset className="holidays">
      <legend>{t("holidays.title")}</legend>
      {holidays.length === 0 ? (
        <p className="muted small">{t("holidays.none")}</p>
      ) : (
        <ul className="holidays__list">
          {holidays.map((iso) => (
            <li key={iso} className="holidays__item">
              <time dateTime={iso}>{format(iso)}</time>
              <button
                type="button"
                className="icon"
                aria-label={t("holidays.remove", { day: format(iso) })}
                onClick={() => onChange(holidays.filter((h) => h !== iso))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="holidays__add">
        <label htmlFor={inputId} className="visually-hidden">
          {t("holidays.day")}
        </label>
        <input
          id={inputId}
          type="date"
          value={day}
          onChange={(e) => setDay(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" className="small" onClick={add} disabled={!day}>
          {t("holidays.add")}
        </button>
      </div>
      {error && (
        <p className="admin-field__error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}

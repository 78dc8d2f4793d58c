// A department's editor (admins): name, description, members (picked from the users), how its
// queue hands out conversations and how many one attendant gets, its timezone, weekly hours,
// holidays, the message customers get out of hours, and what they get when a conversation is
// resolved (a closing message, the satisfaction survey). The API's field errors show under
// the field they name.
import { type FormEvent, useEffect, useId, useState } from "react";
import { api, ApiError } from "../api/client";
import type { AssignmentMode, Department, User } from "../api/types";
import { Dialog, FormEnd } from "../components/Dialog";
import { Field, messageOf, splitError } from "../components/Field";
import { type Key, translate, useT } from "../lib/i18n";
import { HolidaysEditor, HoursEditor } from "./HoursEditor";
import { ROLE_LABEL } from "./UserDialogs";

export const DEFAULT_TIMEZONE = "America/Sao_Paulo";
const FIELDS = [
  "name",
  "description",
  "member_ids",
  "assignment",
  "capacity",
  "timezone",
  "hours",
  "holidays",
  "out_of_hours_message",
  "closing_message",
  "csat_question",
  "csat_thanks",
  "auto_close_s",
  "auto_close_message",
];
// What a new department says on resolving (the server's defaults, shown to be edited).
const CSAT_QUESTION = "Como você avalia o nosso atendimento? Responda de 1 a 5.";
const CSAT_THANKS = "Obrigado pela avaliação! Se quiser, conte numa mensagem o que achou.";
const AUTO_CLOSE_MESSAGE =
  "Como não tivemos resposta, encerramos este atendimento. Se precisar, é só escrever de novo!";

export const MODES: { mode: AssignmentMode; label: Key; hint: Key }[] = [
  { mode: "off", label: "departments.mode.off", hint: "departments.mode.off_hint" },
  { mode: "round_robin", label: "departments.mode.round_robin", hint: "departments.mode.round_robin_hint" },
  { mode: "balanced", label: "departments.mode.balanced", hint: "departments.mode.balanced_hint" },
];

/** Every IANA zone the browser knows, the department's own and São Paulo's always among them. */
function zones(current: string): string[] {
  let known: string[] = [];
  try {
    known = Intl.supportedValuesOf("timeZone");
  } catch {
    known = [];
  }
  return [...new Set([DEFAULT_TIMEZONE, current, ...known])].sort();
}

function said(field: string, caught: unknown): string {
  if (field === "name" && caught instanceof ApiError && caught.code === "conflict") {
    return translate("departments.name_taken");
  }
  if (field === "hours") return translate("departments.hours_invalid");
  return messageOf(caught);
}

type Props = { department: Department | null; onClose: () => void; onSaved: (d: Department) => void };

export function DepartmentDialog({ department, onClose, onSaved }: Props) {
  const t = useT();
  const [name, setName] = useState(department?.name ?? "");
  const [description, setDescription] = useState(department?.description ?? "");
  const [members, setMembers] = useState<number[]>(department?.member_ids ?? []);
  const [assignment, setAssignment] = useState<AssignmentMode>(department?.assignment ?? "off");
  const [capacity, setCapacity] = useState(String(department?.capacity ?? 10));
  const [timezone, setTimezone] = useState(department?.timezone ?? DEFAULT_TIMEZONE);
  const [hours, setHours] = useState<Department["hours"]>(department ? department.hours : null);
  const [holidays, setHolidays] = useState<string[]>(department?.holidays ?? []);
  const [outOfHours, setOutOfHours] = useState(department?.out_of_hours_message ?? "");
  const [closing, setClosing] = useState(department?.closing_message ?? "");
  const [csat, setCsat] = useState(department?.csat_enabled ?? true);
  const [question, setQuestion] = useState(department?.csat_question ?? CSAT_QUESTION);
  const [thanks, setThanks] = useState(department?.csat_thanks ?? CSAT_THANKS);
  // Shown in minutes; the API counts seconds. Empty or 0: never.
  const [silence, setSilence] = useState(minutesText(department?.auto_close_s));
  const [slaFirst, setSlaFirst] = useState(minutesText(department?.sla_first_s));
  const [slaNext, setSlaNext] = useState(minutesText(department?.sla_next_s));
  const [silenceMessage, setSilenceMessage] = useState(department?.auto_close_message ?? AUTO_CLOSE_MESSAGE);
  const [users, setUsers] = useState<User[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const ids = { mode: useId(), zone: useId() };

  useEffect(() => {
    let stopped = false;
    api("get", "/api/v1/users")
      .then((list) => !stopped && setUsers(list.items))
      .catch((caught: unknown) => !stopped && setGeneral(messageOf(caught)));
    return () => {
      stopped = true;
    };
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const room = Number(capacity);
    if (!name.trim()) {
      setErrors({ name: t("departments.name_required") });
      return;
    }
    if (!Number.isInteger(room) || room < 1 || room > 1000) {
      setErrors({ capacity: t("departments.capacity_rule") });
      return;
    }
    const minutes = minutesIn(silence);
    if (!validMinutes(minutes)) {
      setErrors({ auto_close_s: t("departments.auto_close_rule") });
      return;
    }
    const [first, next] = [minutesIn(slaFirst), minutesIn(slaNext)];
    if (!validMinutes(first) || !validMinutes(next)) {
      setErrors(validMinutes(first) ? { sla_next_s: t("departments.sla_rule") } : { sla_first_s: t("departments.sla_rule") });
      return;
    }
    if (csat && !question.trim()) {
      setErrors({ csat_question: t("departments.csat_question_required") });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    const body = {
      name: name.trim(),
      description,
      member_ids: members,
      assignment,
      capacity: room,
      timezone,
      hours,
      holidays,
      out_of_hours_message: outOfHours,
      closing_message: closing,
      csat_enabled: csat,
      csat_question: question.trim() || CSAT_QUESTION,
      csat_thanks: thanks,
      auto_close_s: Math.round(minutes * 60),
      auto_close_message: silenceMessage,
      sla_first_s: Math.round(first * 60),
      sla_next_s: Math.round(next * 60),
    };
    try {
      onSaved(
        department
          ? await api("patch", "/api/v1/departments/{id}", { params: { id: department.id }, body })
          : await api("post", "/api/v1/departments", { body }),
      );
    } catch (caught) {
      const found = splitError(caught, FIELDS, said);
      setErrors(found.errors);
      setGeneral(found.general);
    } finally {
      setBusy(false);
    }
  }

  const chosen = new Set(members);
  const people = (users ?? []).filter((u) => u.is_active || chosen.has(u.id));
  const hint = MODES.find((m) => m.mode === assignment)?.hint;

  return (
    <Dialog
      title={department ? t("departments.edit_title", { name: department.name }) : t("departments.new")}
      onClose={onClose}
      testId="department"
    >
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t("departments.name")} value={name} onChange={setName} error={errors.name} required />
        <Field
          label={t("departments.description")}
          multiline
          rows={2}
          value={description}
          onChange={setDescription}
          error={errors.description}
        />
        <fieldset className="members">
          <legend>{t("departments.members")}</legend>
          {users === null ? (
            <p className="muted small">{t("common.loading")}</p>
          ) : (
            <ul className="members__list">
              {people.map((user) => (
                <li key={user.id}>
                  <label className="check">
                    <input
                      type="checkbox"
                      checked={chosen.has(user.id)}
                      onChange={(e) =>
                        setMembers((current) =>
                          e.target.checked ? [...current, user.id] : current.filter((id) => id !== user.id),
                        )
                      }
                    />
                    <span>{user.name}</span>
                    <span className="muted small">{t(ROLE_LABEL[user.role])}</span>
                  </label>
                </li>
              ))}
            </ul>
          )}
          {errors.member_ids && (
            <p className="admin-field__error" role="alert">
              {errors.member_ids}
            </p>
          )}
        </fieldset>
        <div className="admin-field">
          <label htmlFor={ids.mode}>{t("departments.assignment")}</label>
          <select
            id={ids.mode}
            value={assignment}
            aria-describedby={`${ids.mode}-hint`}
            onChange={(e) => setAssignment(e.target.value as AssignmentMode)}
          >
            {MODES.map((m) => (
              <option key={m.mode} value={m.mode}>
                {t(m.label)}
              </option>
            ))}
          </select>
          <p className="admin-field__hint muted small" id={`${ids.mode}-hint`}>
            {hint && t(hint)}
          </p>
        </div>
        <Field
          label={t("departments.capacity")}
          type="number"
          min={1}
          max={1000}
          inputMode="numeric"
          value={capacity}
          onChange={setCapacity}
          error={errors.capacity}
          hint={t("departments.capacity_hint")}
        />
        <div className="admin-field">
          <label htmlFor={ids.zone}>{t("departments.timezone")}</label>
          <select id={ids.zone} value={timezone} onChange={(e) => setTimezone(e.target.value)}>
            {zones(timezone).map((zone) => (
              <option key={zone} value={zone}>
                {zone.replace(/_/g, " ")}
              </option>
            ))}
          </select>
          {errors.timezone && (
            <p className="admin-field__error" role="alert">
              {errors.timezone}
            </p>
          )}
        </div>
        <HoursEditor hours={hours} onChange={setHours} error={errors.hours} />
        <HolidaysEditor holidays={holidays} onChange={setHolidays} error={errors.holidays} />
        <Field
          label={t("departments.out_of_hours")}
          hint={t("departments.out_of_hours_hint")}
          multiline
          rows={3}
          value={outOfHours}
          onChange={setOutOfHours}
          error={errors.out_of_hours_message}
        />
        <fieldset className="resolving">
          <legend>{t("departments.resolving")}</legend>
          <Field
            label={t("departments.closing")}
            hint={t("departments.closing_hint")}
            multiline
            rows={2}
            value={closing}
            onChange={setClosing}
            error={errors.closing_message}
          />
          <label className="check">
            <input type="checkbox" checked={csat} onChange={(e) => setCsat(e.target.checked)} />
            {t("departments.csat")}
          </label>
          {csat && (
            <>
              <Field
                label={t("departments.csat_question")}
                hint={t("departments.csat_question_hint")}
                multiline
                rows={2}
                value={question}
                onChange={setQuestion}
                error={errors.csat_question}
              />
              <Field
                label={t("departments.csat_thanks")}
                hint={t("departments.csat_thanks_hint")}
                multiline
                rows={2}
                value={thanks}
                onChange={setThanks}
                error={errors.csat_thanks}
              />
            </>
          )}
          <Field
            label={t("departments.auto_close")}
            hint={t("departments.auto_close_hint")}
            inputMode="decimal"
            value={silence}
            onChange={setSilence}
            error={errors.auto_close_s}
          />
          {minutesIn(silence) > 0 && (
            <Field
              label={t("departments.auto_close_message")}
              multiline
              rows={2}
              value={silenceMessage}
              onChange={setSilenceMessage}
              error={errors.auto_close_message}
            />
          )}
        </fieldset>
        <fieldset className="resolving">
          <legend>{t("departments.sla")}</legend>
          <Field
            label={t("departments.sla_first")}
            hint={t("departments.sla_first_hint")}
            inputMode="decimal"
            value={slaFirst}
            onChange={setSlaFirst}
            error={errors.sla_first_s}
          />
          <Field
            label={t("departments.sla_next")}
            hint={t("departments.sla_next_hint")}
            inputMode="decimal"
            value={slaNext}
            onChange={setSlaNext}
            error={errors.sla_next_s}
          />
        </fieldset>
        <FormEnd
          error={general}
          busy={busy}
          submit={department ? t("departments.save") : t("departments.create")}
          onCancel={onClose}
        />
      </form>
    </Dialog>
  );
}

// Times are shown in minutes (a comma or a dot for decimals); the API counts seconds. Empty: 0.
function minutesText(seconds: number | undefined): string {
  return seconds ? String(seconds / 60) : "";
}

function minutesIn(text: string): number {
  return text.trim() ? Number(text.replace(",", ".")) : 0;
}

function validMinutes(minutes: number): boolean {
  return Number.isFinite(minutes) && minutes >= 0 && minutes <= 43_200;
}

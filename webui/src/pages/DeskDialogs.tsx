// The chat header's dialogs: transfer a conversation (to a department's queue and/or a person,
// with a private note for the receiver and an optional message to the customer) and, for
// supervisors and admins, assign it to someone. People come from the team, with their status
// and how many conversations they hold.
import { type FormEvent, useId, useState } from "react";
import { api, ApiError } from "../api/client";
import { useDepartments, useTeam } from "../api/directory";
import type { Conversation, Member } from "../api/types";
import { PresenceDot } from "../components/DeskBadges";
import { Dialog, FormEnd } from "../components/Dialog";
import { Field, messageOf } from "../components/Field";
import { translate, useT } from "../lib/i18n";

type Done = (changed: Conversation) => void;

/** An API refusal in the page's words when it is one of the usual ones. */
export function refusal(caught: unknown): string {
  if (caught instanceof ApiError) {
    if (caught.code === "permission_denied") return translate("desk.denied");
    if (caught.details.reason === "same_place") return translate("transfer.same_place");
    if (caught.details.reason === "already_assigned") return translate("assign.already");
    if (caught.code === "invalid_transition") return translate("desk.invalid");
    if (caught.code === "not_found") return translate("desk.gone");
  }
  return messageOf(caught);
}

type PickerProps = {
  legend: string;
  people: Member[];
  value: number | null;
  onChange: (id: number | null) => void;
  none?: string;
};

/** A choice of one person (radio buttons: arrows move, the dot says online/away/offline). */
export function PersonPicker({ legend, people, value, onChange, none }: PickerProps) {
  const t = useT();
  const name = useId();
  return (
    <fieldset className="people">
      <legend>{legend}</legend>
      {none !== undefined && (
        <label className="people__row">
          <input type="radio" name={name} checked={value === null} onChange={() => onChange(null)} />
          <span>{none}</span>
        </label>
      )}
      {people.map((person) => (
        <label key={person.id} className="people__row" data-person={person.name}>
          <input type="radio" name={name} checked={value === person.id} onChange={() => onChange(person.id)} />
          <PresenceDot status={person.status} />
          <span className="people__name">{person.name}</span>
          <span className="muted small">{t("team.open_n", { n: person.open })}</span>
        </label>
      ))}
      {people.length === 0 && none === undefined && <p className="muted small">{t("team.nobody")}</p>}
    </fieldset>
  );
}

/** Online first, then away, then offline; by name within each. */
function byAvailability(a: Member, b: Member): number {
  const rank = { online: 0, away: 1, offline: 2 } as const;
  return rank[a.status] - rank[b.status] || a.name.localeCompare(b.name);
}

type TransferProps = { conversation: Conversation; onClose: () => void; onDone: Done };

export function TransferDialog({ conversation, onClose, onDone }: TransferProps) {
  const t = useT();
  const departments = useDepartments() ?? [];
  const team = useTeam() ?? [];
  const [department, setDepartment] = useState<number | null>(null); // null: stays where it is
  const [person, setPerson] = useState<number | null>(null);
  const [note, setNote] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const selectId = useId();

  const current = departments.find((d) => d.id === conversation.department_id);
  const target = department ?? conversation.department_id;
  const targetName = departments.find((d) => d.id === target)?.name ?? "";
  // The people who work in the destination (anyone the user knows when it has none yet).
  const people = team
    .filter((m) => m.id !== conversation.assignee_id)
    .filter((m) => target === null || m.department_ids.includes(target))
    .sort(byAvailability);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (department === null && person === null) {
      setError(t("transfer.pick"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onDone(
        await api("post", "/api/v1/conversations/{id}/transfer", {
          params: { id: conversation.id },
          body: {
            department_id: department,
            user_id: person,
            note: note.trim() || null,
            message: message.trim() || null,
          },
        }),
      );
    } catch (caught) {
      setError(refusal(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("transfer.title")} onClose={onClose} testId="transfer">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div className="admin-field">
          <label htmlFor={selectId}>{t("transfer.department")}</label>
          <select
            id={selectId}
            value={department ?? ""}
            onChange={(e) => {
              setDepartment(Number(e.target.value) || null);
              setPerson(null);
            }}
          >
            <option value="">
              {current ? t("transfer.keep", { name: current.name }) : t("transfer.keep_none")}
            </option>
            {departments
              .filter((d) => d.id !== conversation.department_id)
              .map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
          </select>
        </div>
        <PersonPicker
          legend={t("transfer.person")}
          people={people}
          value={person}
          onChange={setPerson}
          none={t("transfer.to_queue")}
        />
        <Field
          label={t("transfer.note")}
          hint={t("transfer.note_hint")}
          multiline
          rows={3}
          value={note}
          onChange={setNote}
        />
        <Field
          label={t("transfer.message")}
          hint={t("transfer.message_hint")}
          multiline
          rows={2}
          value={message}
          onChange={setMessage}
          placeholder={targetName ? t("transfer.message_example", { name: targetName }) : ""}
        />
        <FormEnd error={error} busy={busy} submit={t("transfer.submit")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

type AssignProps = { conversation: Conversation; onClose: () => void; onDone: Done };

export function AssignDialog({ conversation, onClose, onDone }: AssignProps) {
  const t = useT();
  const team = useTeam() ?? [];
  const [person, setPerson] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const department = conversation.department_id;
  // The conversation's department's people first (they know its subject), then the others.
  const people = team
    .filter((m) => m.id !== conversation.assignee_id)
    .sort(
      (a, b) =>
        Number(department !== null && !a.department_ids.includes(department)) -
          Number(department !== null && !b.department_ids.includes(department)) || byAvailability(a, b),
    );

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (person === null) {
      setError(t("assign.pick"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onDone(
        await api("post", "/api/v1/conversations/{id}/assign", {
          params: { id: conversation.id },
          body: { user_id: person },
        }),
      );
    } catch (caught) {
      setError(refusal(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("assign.title")} onClose={onClose} testId="assign">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <PersonPicker legend={t("assign.person")} people={people} value={person} onChange={setPerson} />
        <FormEnd error={error} busy={busy} submit={t("assign.submit")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

/** A local "YYYY-MM-DDTHH:MM" for a datetime-local field. */
function localInput(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

function soon(hours: number): Date {
  return new Date(Date.now() + hours * 3_600_000);
}

function tomorrowAt9(): Date {
  const at = new Date();
  at.setDate(at.getDate() + 1);
  at.setHours(9, 0, 0, 0);
  return at;
}

/** Snooze: pending until a moment (quick choices or any date and time), then open again. */
export function SnoozeDialog({ conversation, onClose, onDone }: { conversation: Conversation; onClose: () => void; onDone: Done }) {
  const t = useT();
  const [when, setWhen] = useState(localInput(soon(1)));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const choices: [string, () => Date][] = [
    [t("snooze.in_1h"), () => soon(1)],
    [t("snooze.in_3h"), () => soon(3)],
    [t("snooze.tomorrow"), tomorrowAt9],
  ];

  async function submit(event: FormEvent) {
    event.preventDefault();
    const at = new Date(when);
    if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now()) {
      setError(t("snooze.future"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onDone(
        await api("post", "/api/v1/conversations/{id}/snooze", {
          params: { id: conversation.id },
          body: { until: at.toISOString() },
        }),
      );
    } catch (caught) {
      setError(refusal(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("snooze.title")} onClose={onClose}>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted small">{t("snooze.hint")}</p>
        <div className="snooze__choices">
          {choices.map(([label, at]) => (
            <button key={label} type="button" className="small" onClick={() => setWhen(localInput(at()))}>
              {label}
            </button>
          ))}
        </div>
        <Field label={t("snooze.until")} type="datetime-local" value={when} onChange={setWhen} />
        <FormEnd error={error} busy={busy} submit={t("snooze.submit")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

// Tags (admins): coloured labels attendants put on conversations and the inbox filters by.
// Create, rename, recolour (a small palette or any colour), delete — saying how many
// conversations carry the tag before it goes.
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../api/client";
import { setTags } from "../api/directory";
import type { Tag } from "../api/types";
import { Confirm, Dialog, FormEnd } from "../components/Dialog";
import { Field, messageOf, splitError } from "../components/Field";
import { PageMessages } from "../components/PageMessages";
import { TagChip } from "../components/TagChip";
import { useT } from "../lib/i18n";

// Readable with black or white text, distinct from one another.
const PALETTE = ["#0f7b6c", "#0b5cad", "#6f42c1", "#b42318", "#c2410c", "#9a6700", "#1a7f37", "#5d6878"];

function byName(list: Tag[]): Tag[] {
  return [...list].sort((a, b) => a.name.localeCompare(b.name));
}

export default function Tags() {
  const t = useT();
  const [list, setList] = useState<Tag[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<Tag | "new" | null>(null);
  const [deleting, setDeleting] = useState<Tag | null>(null);

  const show = useCallback((items: Tag[]) => {
    setList(items);
    setTags(items); // the inbox and the chat show them too
  }, []);

  useEffect(() => {
    api("get", "/api/v1/tags")
      .then((found) => show(found.items))
      .catch((caught: unknown) => setError(t("common.error", { m: messageOf(caught) })));
  }, [show, t]);

  async function remove(tag: Tag) {
    setError(null);
    setNotice(null);
    try {
      await api("delete", "/api/v1/tags/{id}", { params: { id: tag.id } });
      show((list ?? []).filter((x) => x.id !== tag.id));
      setNotice(t("tags.deleted", { name: tag.name }));
    } catch (caught) {
      setError(t("common.error", { m: messageOf(caught) }));
    }
  }

  const carried = (tag: Tag) => {
    const n = tag.conversations ?? 0;
    return n === 1 ? t("tags.count_one") : t("tags.count_n", { n });
  };

  return (
    <section className="page" aria-labelledby="tags-title">
      <header className="page__head">
        <h1 id="tags-title">{t("tags.title")}</h1>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          {t("tags.new")}
        </button>
      </header>
      <p className="muted small">{t("tags.about")}</p>
      <PageMessages notice={notice} error={error} />
      {list === null ? (
        <p className="muted">{t("common.loading")}</p>
      ) : list.length === 0 ? (
        <p className="muted">{t("tags.empty")}</p>
      ) : (
        <ul className="tags-list" aria-label={t("tags.title")}>
          {list.map((tag) => (
            <li key={tag.id} className="card tags-list__item" data-tag-row={tag.name}>
              <TagChip tag={tag} />
              <span className="muted small">{carried(tag)}</span>
              <div className="row-actions">
                <button
                  type="button"
                  className="small"
                  aria-label={t("tags.edit_named", { name: tag.name })}
                  onClick={() => setEditing(tag)}
                >
                  {t("tags.edit")}
                </button>
                <button
                  type="button"
                  className="danger small"
                  aria-label={t("tags.delete_named", { name: tag.name })}
                  onClick={() => setDeleting(tag)}
                >
                  {t("tags.delete")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && (
        <TagDialog
          tag={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(saved) => {
            const known = (list ?? []).some((x) => x.id === saved.id);
            setEditing(null);
            setError(null);
            show(byName([...(list ?? []).filter((x) => x.id !== saved.id), saved]));
            setNotice(t(known ? "tags.saved" : "tags.created", { name: saved.name }));
          }}
        />
      )}
      {deleting && (
        <Confirm
          text={
            deleting.conversations
              ? t("tags.confirm_delete_used", { name: deleting.name, count: carried(deleting) })
              : t("tags.confirm_delete", { name: deleting.name })
          }
          action={t("tags.delete")}
          danger
          onConfirm={() => void remove(deleting)}
          onClose={() => setDeleting(null)}
        />
      )}
    </section>
  );
}

type DialogProps = { tag: Tag | null; onClose: () => void; onSaved: (tag: Tag) => void };

function TagDialog({ tag, onClose, onSaved }: DialogProps) {
  const t = useT();
  const [name, setName] = useState(tag?.name ?? "");
  const [color, setColor] = useState(tag?.color ?? PALETTE[0] ?? "#0f7b6c");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ name: t("tags.name_required") });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    const body = { name: name.trim(), color };
    try {
      onSaved(
        tag
          ? await api("patch", "/api/v1/tags/{id}", { params: { id: tag.id }, body })
          : await api("post", "/api/v1/tags", { body }),
      );
    } catch (caught) {
      if (caught instanceof ApiError && caught.code === "tag_name_taken") {
        setErrors({ name: t("tags.name_taken") });
      } else {
        const found = splitError(caught, ["name", "color"]);
        setErrors(found.errors);
        setGeneral(found.general);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={tag ? t("tags.edit_title", { name: tag.name }) : t("tags.new")} onClose={onClose} testId="tag-editor">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t("tags.name")} value={name} onChange={setName} error={errors.name} maxLength={48} required />
        <fieldset className="tag-colors">
          <legend>{t("tags.color")}</legend>
          <div className="tag-colors__swatches">
            {PALETTE.map((swatch) => (
              <button
                key={swatch}
                type="button"
                className="tag-colors__swatch"
                style={{ background: swatch }}
                aria-label={swatch}
                aria-pressed={color === swatch}
                onClick={() => setColor(swatch)}
              />
            ))}
            <label className="tag-colors__custom small">
              {t("tags.color_custom")}
              <input type="color" value={color} onChange={(e) => setColor(e.target.value)} />
            </label>
          </div>
          {errors.color && (
            <p className="admin-field__error" role="alert">
              {errors.color}
            </p>
          )}
          <p className="small muted">
            {t("tags.preview")} <TagChip tag={{ id: 0, name: name.trim() || "…", color, created_at: "" }} />
          </p>
        </fieldset>
        <FormEnd error={general} busy={busy} submit={tag ? t("tags.save") : t("tags.create")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

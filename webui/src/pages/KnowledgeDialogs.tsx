// The Knowledge page's editors: an article (title, markdown body, tags) and a quick reply
// (shortcut, text). The API's field errors show under the field they name.
import { type FormEvent, useState } from "react";
import { api, ApiError } from "../api/client";
import { Dialog, FormEnd } from "../components/Dialog";
import { Field, faultyField, splitError } from "../components/Field";
import { useT } from "../lib/i18n";
import type { Article, QuickReply } from "../api/types";

type Errors = Record<string, string>;

function tagsOf(text: string): string[] {
  return [...new Set(text.split(",").map((tag) => tag.trim()).filter(Boolean))];
}

type ArticleProps = { article: Article | null; onClose: () => void; onSaved: (a: Article) => void };

export function ArticleEditor({ article, onClose, onSaved }: ArticleProps) {
  const t = useT();
  const [title, setTitle] = useState(article?.title ?? "");
  const [body, setBody] = useState(article?.body ?? "");
  const [tags, setTags] = useState(article?.tags.join(", ") ?? "");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!title.trim()) {
      setErrors({ title: t("knowledge.title_required") });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    const fields = { title: title.trim(), body, tags: tagsOf(tags) };
    try {
      onSaved(
        article
          ? await api("patch", "/api/v1/knowledge/{id}", { params: { id: article.id }, body: fields })
          : await api("post", "/api/v1/knowledge", { body: fields }),
      );
    } catch (caught) {
      const found = splitError(caught, ["title", "body", "tags"]);
      setErrors(found.errors);
      setGeneral(found.general);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={article ? t("knowledge.edit_title") : t("knowledge.new")}
      onClose={onClose}
      testId="article-editor"
    >
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t("knowledge.field.title")} value={title} onChange={setTitle} error={errors.title} required />
        <Field
          label={t("knowledge.field.body")}
          multiline
          rows={10}
          value={body}
          onChange={setBody}
          error={errors.body}
          hint={t("knowledge.body_hint")}
        />
        <Field
          label={t("knowledge.field.tags")}
          value={tags}
          onChange={setTags}
          error={errors.tags}
          hint={t("knowledge.tags_hint")}
        />
        <FormEnd error={general} busy={busy} submit={t("knowledge.save")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

type ReplyProps = { reply: QuickReply | null; onClose: () => void; onSaved: (r: QuickReply) => void };

export function QuickReplyEditor({ reply, onClose, onSaved }: ReplyProps) {
  const t = useT();
  const [shortcut, setShortcut] = useState(reply?.shortcut ?? "");
  const [text, setText] = useState(reply?.text ?? "");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    const fields = { shortcut: shortcut.trim(), text };
    try {
      onSaved(
        reply
          ? await api("patch", "/api/v1/quick-replies/{id}", { params: { id: reply.id }, body: fields })
          : await api("post", "/api/v1/quick-replies", { body: fields }),
      );
    } catch (caught) {
      if (caught instanceof ApiError && caught.code === "conflict") {
        setErrors({ shortcut: t("knowledge.quick.taken", { s: fields.shortcut.replace(/^\//, "") }) });
      } else if (faultyField(caught) === "shortcut") {
        setErrors({ shortcut: t("knowledge.quick.shortcut_rule") });
      } else {
        const found = splitError(caught, ["text"]);
        setErrors(found.errors);
        setGeneral(found.general);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={reply ? t("knowledge.quick.edit_title") : t("knowledge.quick.new")} onClose={onClose} testId="quick-reply-editor">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field
          label={t("knowledge.quick.shortcut")}
          value={shortcut}
          onChange={setShortcut}
          error={errors.shortcut}
          hint={t("knowledge.quick.shortcut_rule")}
          required
        />
        <Field label={t("knowledge.quick.text")} multiline rows={5} value={text} onChange={setText} error={errors.text} />
        <FormEnd error={general} busy={busy} submit={t("knowledge.save")} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

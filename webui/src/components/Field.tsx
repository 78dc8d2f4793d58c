// A labelled form field whose error (from the API's `details.field`) shows right under it and
// is announced: the input points at it with aria-describedby and says aria-invalid.
import { type InputHTMLAttributes, type ReactNode, useId } from "react";
import { ApiError } from "../api/client";

type Props = {
  label: string;
  error?: string | null | undefined;
  hint?: ReactNode | undefined;
  multiline?: boolean;
  rows?: number;
  value: string;
  onChange: (value: string) => void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "value" | "onChange">;

export function Field({ label, error, hint, multiline, rows, value, onChange, ...rest }: Props) {
  const id = useId();
  const described = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  const common = {
    id,
    value,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": described,
  };
  return (
    <div className="admin-field">
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea
          {...common}
          rows={rows ?? 8}
          required={rest.required}
          placeholder={rest.placeholder}
          onChange={(event) => onChange(event.target.value)}
        />
      ) : (
        <input {...rest} {...common} onChange={(event) => onChange(event.target.value)} />
      )}
      {error ? (
        <p className="admin-field__error" id={`${id}-error`} role="alert">
          {error}
        </p>
      ) : (
        hint && (
          <p className="admin-field__hint muted small" id={`${id}-hint`}>
            {hint}
          </p>
        )
      )}
    </div>
  );
}

/** Which input an API error is about, if it names one (`details.field` or `errors[0].field`). */
export function faultyField(caught: unknown): string | null {
  if (!(caught instanceof ApiError)) return null;
  const { field, errors } = caught.details;
  if (typeof field === "string") return field;
  if (Array.isArray(errors)) {
    const first: unknown = errors[0];
    if (typeof first === "object" && first !== null && "field" in first) {
      const name = (first as { field: unknown }).field;
      if (typeof name === "string") return name.split(".")[0] ?? null;
    }
  }
  return null;
}

/** The API error's own message, or the thrown thing as text. */
export function messageOf(caught: unknown): string {
  return caught instanceof Error ? caught.message : String(caught);
}

/** A failed save as the form shows it: under the field it names (one of ``fields``), in the
 * words ``say`` gives, or else above the buttons. */
export function splitError(
  caught: unknown,
  fields: string[],
  say: (field: string, caught: unknown) => string = (_field, c) => messageOf(c),
): { errors: Record<string, string>; general: string | null } {
  const field = faultyField(caught);
  if (field && fields.includes(field)) return { errors: { [field]: say(field, caught) }, general: null };
  return { errors: {}, general: messageOf(caught) };
}

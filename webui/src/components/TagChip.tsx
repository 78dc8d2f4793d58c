// A tag as a small chip in its own colour, its name in black or white (whichever reads better
// on that colour, so any colour an admin picks stays readable in the light and dark themes).
import type { Tag } from "../api/types";
import { useT } from "../lib/i18n";

function luminance(hex: string): number {
  const channel = (at: number) => {
    const value = parseInt(hex.slice(at, at + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** The text colour for a chip of this background (WCAG contrast against black and white). */
export function inkOn(color: string): string {
  const light = luminance(color);
  return (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) ? "#111111" : "#ffffff";
}

export function TagChip({ tag, onRemove }: { tag: Tag; onRemove?: () => void }) {
  const t = useT();
  return (
    <span className="tag-chip" style={{ background: tag.color, color: inkOn(tag.color) }} data-tag={tag.name}>
      {tag.name}
      {onRemove && (
        <button
          type="button"
          className="tag-chip__remove"
          aria-label={t("tags.remove_named", { name: tag.name })}
          onClick={onRemove}
        >
          ×
        </button>
      )}
    </span>
  );
}

/** The tags of a conversation, by name, as chips (ids no tag has any more are left out). */
export function TagChips({ ids, byId }: { ids: number[]; byId: (id: number) => Tag | null }) {
  const shown = ids
    .map(byId)
    .filter((tag): tag is Tag => tag !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (shown.length === 0) return null;
  return (
    <span className="tag-chips">
      {shown.map((tag) => (
        <TagChip key={tag.id} tag={tag} />
      ))}
    </span>
  );
}

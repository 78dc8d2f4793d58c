// A small emoji picker for the composer: a fixed set of common emoji in a popover. Arrow keys
// move through the grid, Enter or a click picks, Esc (or a click elsewhere) closes and gives
// the focus back to the button.
import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { useT } from "../lib/i18n";

// Space-separated: some emoji are two code points (a base and the "emoji style" selector).
const LIST = (
  "😀 😁 😂 🤣 😊 😍 😘 😉 😎 🤩 🙂 🙃 😅 😇 🤔 🤗 😐 😴 😢 😭 😡 😱 🥳 😬 " +
  "👍 👎 👌 🙏 👏 🙌 💪 👋 🤝 ✌️ ❤️ 💙 💚 💛 🧡 💜 🔥 ⭐ ✨ 🎉 " +
  "✅ ❌ ⚠️ 📦 🚚 📞 📷 📎 🕐 💰 🎁 🛒 📅 📍 💬 👀"
).split(" ");
const COLUMNS = 8;

export function EmojiPicker({ onPick }: { onPick: (emoji: string) => void }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    panel.current?.querySelector("button")?.focus();
    const outside = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!panel.current?.contains(target) && !trigger.current?.contains(target)) setOpen(false);
    };
    document.addEventListener("pointerdown", outside);
    return () => document.removeEventListener("pointerdown", outside);
  }, [open]);

  function close() {
    setOpen(false);
    trigger.current?.focus();
  }

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
      return;
    }
    const buttons = [...(panel.current?.querySelectorAll("button") ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS }[event.key];
    if (step === undefined || at < 0) return;
    event.preventDefault();
    buttons[Math.min(buttons.length - 1, Math.max(0, at + step))]?.focus();
  }

  return (
    <span className="inbox-x-emoji">
      <button
        ref={trigger}
        type="button"
        className="icon"
        aria-label={t("inbox.emoji.open")}
        title={t("inbox.emoji.open")}
        aria-haspopup="dialog"
        aria-expanded={open}
        onClick={() => setOpen((now) => !now)}
      >
        <Smiley />
      </button>
      {open && (
        <div
          ref={panel}
          className="inbox-x-emoji__panel"
          role="dialog"
          aria-label={t("inbox.emoji.title")}
          onKeyDown={onKeyDown}
        >
          {LIST.map((emoji) => (
            <button
              key={emoji}
              type="button"
              onClick={() => {
                setOpen(false);
                onPick(emoji);
              }}
            >
              {emoji}
            </button>
          ))}
        </div>
      )}
    </span>
  );
}

function Smiley() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <circle cx="12" cy="12" r="9" />
      <path d="M8 14a4.5 4.5 0 0 0 8 0M9 9.5h.01M15 9.5h.01" />
    </svg>
  );
}

// The bot's menu tree: a question and numbered options, each leading to a department's queue
// or to a sub-menu (edited in place, nested up to three levels). Options are added, removed
// and moved with buttons; a problem shows under the input it is about. Options are numbered
// like the customer sees them ("Opção 2", and "Opção 2.1" inside option 2's sub-menu).
import { useEffect, useId, useRef } from "react";
import type { Department } from "../api/types";
import { useT } from "../lib/i18n";
import { MAX_DEPTH, type DraftMenu, type DraftOption, newOption, newSubMenu } from "./botModel";

type Props = {
  menu: DraftMenu;
  onChange: (menu: DraftMenu) => void;
  /** The API's path of this menu ("menu", "menu.options.1.menu"), which problems are keyed by. */
  path: string;
  /** The option numbers leading here: [] for the first menu, [2] for option 2's sub-menu. */
  trail: number[];
  departments: Department[];
  said: (path: string) => string | null;
  /** Options added or removed, or moved: problems found by index no longer point right. */
  onReshape: () => void;
  /** The option just added, whose text gets the focus. */
  fresh: number | null;
  onAdded: (key: number) => void;
};

export function BotMenuEditor(props: Props) {
  const { menu, onChange, path, trail, said, onReshape, onAdded } = props;
  const t = useT();
  const promptId = useId();
  const box = useRef<HTMLDivElement>(null);
  const depth = trail.length + 1;
  const name = trail.join(".");
  const promptError = said(`${path}.prompt`);
  const listError = said(`${path}.options`);

  const setOption = (index: number, change: Partial<DraftOption>) =>
    onChange({ ...menu, options: menu.options.map((o, i) => (i === index ? { ...o, ...change } : o)) });

  const reshape = (options: DraftOption[]) => {
    onReshape();
    onChange({ ...menu, options });
  };

  const move = (index: number, step: -1 | 1) => {
    const options = [...menu.options];
    const [moved] = options.splice(index, 1);
    if (!moved) return;
    options.splice(index + step, 0, moved);
    reshape(options);
  };

  return (
    <div className="bot-menu" data-menu={name || "main"} ref={box}>
      <div className="admin-field">
        <label htmlFor={promptId}>{depth === 1 ? t("bot.prompt") : t("bot.prompt_named", { n: name })}</label>
        <input
          id={promptId}
          value={menu.prompt}
          aria-invalid={promptError ? true : undefined}
          aria-describedby={promptError ? `${promptId}-error` : undefined}
          onChange={(e) => onChange({ ...menu, prompt: e.target.value })}
        />
        {promptError && (
          <p className="admin-field__error" id={`${promptId}-error`} role="alert">
            {promptError}
          </p>
        )}
      </div>
      <ol className="bot-options">
        {menu.options.map((option, index) => (
          <OptionRow
            key={option.key}
            {...props}
            option={option}
            index={index}
            count={menu.options.length}
            number={[...trail, index + 1].join(".")}
            at={`${path}.options.${index}`}
            depth={depth}
            onSet={(change) => setOption(index, change)}
            onMove={(step) => move(index, step)}
            onRemove={() => {
              reshape(menu.options.filter((_, i) => i !== index));
              // The focus goes to the option now in its place, else to "Adicionar opção".
              requestAnimationFrame(() => {
                const rows = box.current?.querySelectorAll<HTMLInputElement>(":scope > ol > li > div > .bot-option__label");
                const next = rows?.[Math.min(index, rows.length - 1)];
                (next ?? box.current?.querySelector<HTMLElement>(":scope > .bot-menu__add"))?.focus();
              });
            }}
            onSubMenu={(sub) => setOption(index, { menu: sub })}
          />
        ))}
      </ol>
      {listError && (
        <p className="admin-field__error" role="alert">
          {listError}
        </p>
      )}
      <button
        type="button"
        className="small bot-menu__add"
        aria-label={depth === 1 ? undefined : t("bot.add_named", { n: name })}
        onClick={() => {
          const added = newOption();
          onAdded(added.key);
          reshape([...menu.options, added]);
        }}
      >
        + {t("bot.add")}
      </button>
      {depth === 1 && menu.options.length === 0 && <p className="muted small">{t("bot.no_options")}</p>}
    </div>
  );
}

type RowProps = Props & {
  option: DraftOption;
  index: number;
  count: number;
  number: string;
  at: string;
  depth: number;
  onSet: (change: Partial<DraftOption>) => void;
  onMove: (step: -1 | 1) => void;
  onRemove: () => void;
  onSubMenu: (menu: DraftMenu) => void;
};

function OptionRow(props: RowProps) {
  const { option, index, count, number, at, depth, departments, said, fresh, onSet, onMove, onRemove } = props;
  const t = useT();
  const id = useId();
  const label = useRef<HTMLInputElement>(null);
  const labelError = said(`${at}.label`);
  const destinationError = said(`${at}.department_id`);
  const known = option.department === null || departments.some((d) => d.id === option.department);
  const value = option.to === "menu" ? "menu" : option.department === null ? "" : String(option.department);

  useEffect(() => {
    if (fresh === option.key) label.current?.focus();
  }, [fresh, option.key]);

  // A moved row is put back in the page: the focus follows it (to the other arrow at an end).
  const moved = (step: -1 | 1) => {
    onMove(step);
    requestAnimationFrame(() => {
      const buttons = document.querySelector(`[data-key="${option.key}"] > .bot-option__row`);
      const same = buttons?.querySelector<HTMLButtonElement>(`[data-move="${step < 0 ? "up" : "down"}"]:not(:disabled)`);
      (same ?? buttons?.querySelector<HTMLButtonElement>("[data-move]:not(:disabled)"))?.focus();
    });
  };

  return (
    <li className="bot-option" data-option={number} data-key={option.key}>
      <div className="bot-option__row">
        <span className="bot-option__n" aria-hidden="true">
          {number}
        </span>
        <input
          ref={label}
          id={`${id}-label`}
          className="bot-option__label"
          aria-label={t("bot.option", { n: number })}
          value={option.label}
          aria-invalid={labelError ? true : undefined}
          aria-describedby={labelError ? `${id}-label-error` : undefined}
          onChange={(e) => onSet({ label: e.target.value })}
        />
        <select
          className="bot-option__to"
          aria-label={t("bot.destination", { n: number })}
          value={value}
          aria-invalid={destinationError ? true : undefined}
          aria-describedby={destinationError ? `${id}-to-error` : undefined}
          onChange={(e) => {
            const chosen = e.target.value;
            if (chosen === "menu") {
              onSet({ to: "menu", menu: option.menu.options.length ? option.menu : newSubMenu() });
            } else {
              onSet({ to: "department", department: chosen ? Number(chosen) : null });
            }
          }}
        >
          {value === "" && <option value="">{t("bot.choose")}</option>}
          <optgroup label={t("bot.to_queue")}>
            {departments.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
            {!known && <option value={String(option.department)}>{t("bot.department_gone", { id: String(option.department) })}</option>}
          </optgroup>
          {(depth < MAX_DEPTH || option.to === "menu") && <option value="menu">{t("bot.to_menu")}</option>}
        </select>
        <span className="bot-option__moves">
          <button
            type="button"
            className="icon"
            data-move="up"
            aria-label={t("bot.up", { n: number })}
            disabled={index === 0}
            onClick={() => moved(-1)}
          >
            ↑
          </button>
          <button
            type="button"
            className="icon"
            data-move="down"
            aria-label={t("bot.down", { n: number })}
            disabled={index === count - 1}
            onClick={() => moved(1)}
          >
            ↓
          </button>
          <button type="button" className="icon danger" aria-label={t("bot.remove", { n: number })} onClick={onRemove}>
            ×
          </button>
        </span>
      </div>
      {labelError && (
        <p className="admin-field__error" id={`${id}-label-error`} role="alert">
          {labelError}
        </p>
      )}
      {destinationError && (
        <p className="admin-field__error" id={`${id}-to-error`} role="alert">
          {destinationError}
        </p>
      )}
      {option.to === "menu" && (
        <fieldset className="bot-submenu">
          <legend>{t("bot.submenu", { n: number })}</legend>
          <BotMenuEditor
            {...props}
            menu={option.menu}
            onChange={props.onSubMenu}
            path={`${at}.menu`}
            trail={number.split(".").map(Number)}
          />
        </fieldset>
      )}
    </li>
  );
}

// WhatsApp formatting (*bold*, _italic_, ~strike~, ```mono```) turned into React elements.
// Customer text only ever becomes text nodes: never HTML.
import type { ReactNode } from "react";

const MARKS: Record<string, "strong" | "em" | "s" | "code"> = {
  "```": "code",
  "*": "strong",
  _: "em",
  "~": "s",
};
// A mark opens after a start/space/punctuation and closes before an end/space/punctuation,
// as WhatsApp does ("2*3*4" stays as it is).
const PATTERN = /```([\s\S]+?)```|(?<![\p{L}\p{N}])([*_~])(?!\s)(.+?)(?<!\s)\2(?![\p{L}\p{N}])/gu;

export function waFormat(text: string, depth = 0): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  let key = 0;
  for (const match of text.matchAll(PATTERN)) {
    const at = match.index;
    if (at > last) out.push(text.slice(last, at));
    if (match[1] !== undefined) {
      out.push(<code key={key++}>{match[1]}</code>);
    } else {
      const Tag = MARKS[match[2] ?? "*"] ?? "strong";
      const inner = match[3] ?? "";
      out.push(<Tag key={key++}>{depth < 3 ? waFormat(inner, depth + 1) : inner}</Tag>);
    }
    last = at + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function WaText({ text }: { text: string }) {
  return <>{waFormat(text)}</>;
}

// Phone numbers as people write them: Brazilian ones the Brazilian way (+55 11 98888-0000,
// landlines +55 11 3333-4444), others as +<country code> and the rest in small groups.
// Pure functions (tests/test_phone_format.py runs them).

// Country calling codes of two digits (ITU E.164); 1 and 7 have one, every other three.
const TWO_DIGIT_CODES = new Set([
  "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
  "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
  "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
]);

function countryCode(digits: string): string {
  if (digits.startsWith("1") || digits.startsWith("7")) return digits.slice(0, 1);
  return TWO_DIGIT_CODES.has(digits.slice(0, 2)) ? digits.slice(0, 2) : digits.slice(0, 3);
}

/** "12345678901" → "123 456 789 01": threes, a short tail kept with the group before it. */
function grouped(digits: string): string {
  const groups = digits.match(/.{1,3}/g) ?? [];
  const last = groups.at(-1);
  if (groups.length > 1 && last !== undefined && last.length === 1) {
    groups.splice(-2, 2, groups.at(-2) + last);
  }
  return groups.join(" ");
}

/** The number for people to read; what is not a number is given back as it came. */
export function formatPhone(raw: string): string {
  const digits = raw.replace(/\D/g, "");
  if (digits.length < 8 || digits.length > 15) return raw.trim();
  if (digits.startsWith("55") && (digits.length === 12 || digits.length === 13)) {
    const [area, local] = [digits.slice(2, 4), digits.slice(4)];
    return `+55 ${area} ${local.slice(0, -4)}-${local.slice(-4)}`;
  }
  if (digits.startsWith("1") && digits.length === 11) {
    return `+1 ${digits.slice(1, 4)} ${digits.slice(4, 7)}-${digits.slice(7)}`;
  }
  const code = countryCode(digits);
  return `+${code} ${grouped(digits.slice(code.length))}`;
}

/** The phone of a phone-number JID ("5511988880000:3@s.whatsapp.net"); null for others (@lid). */
export function phoneOfJid(jid: string): string | null {
  const [user, server] = jid.split("@");
  if (server !== "s.whatsapp.net" || !user) return null;
  const digits = user.split(":")[0]?.replace(/\D/g, "") ?? "";
  return digits || null;
}

/** A contact's phone, formatted: its own, else its phone-number identity's; null when none. */
export function contactPhone(contact: { phone?: string | null; identities?: { jid: string }[] }): string | null {
  const known = contact.phone ?? contact.identities?.map((i) => phoneOfJid(i.jid)).find((p) => p !== null);
  return known ? formatPhone(known) : null;
}

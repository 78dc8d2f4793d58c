"""The web UI's phone formatting (webui/src/lib/phone.ts), run by Node: the module compiled by
the UI's own TypeScript, its functions called on the cases below."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

WEBUI = Path(__file__).resolve().parents[1] / "webui"
RUN = """
const ts = require("typescript");
const source = require("fs").readFileSync("src/lib/phone.ts", "utf8");
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 };
const module = { exports: {} };
const compiled = ts.transpileModule(source, { compilerOptions: options }).outputText;
new Function("module", "exports", compiled)(module, module.exports);
const { formatPhone, phoneOfJid, contactPhone } = module.exports;
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify({
  format: cases.format.map(formatPhone),
  jid: cases.jid.map(phoneOfJid),
  contact: cases.contact.map(contactPhone),
}));
"""

FORMAT = {
    "5511988880000": "+55 11 98888-0000",  # a mobile: nine digits
    "551133334444": "+55 11 3333-4444",  # a landline: eight
    "+55 (21) 97777-0002": "+55 21 97777-0002",
    "558188887777": "+55 81 8888-7777",  # a mobile WhatsApp still knows without its 9
    "14155550100": "+1 415 555-0100",
    "351912345678": "+351 912 345 678",
    "447911123456": "+44 791 112 3456",
    "5491123456789": "+54 911 234 567 89",
    "12345": "12345",  # not a phone number: as it came
    "": "",
}
JIDS = {
    "5511988880000@s.whatsapp.net": "5511988880000",
    "5511988880000:12@s.whatsapp.net": "5511988880000",
    "123456789012345@lid": None,
    "120363025246125486@g.us": None,
}
CONTACTS: list[tuple[dict[str, object], str | None]] = [
    ({"phone": "5511988880000", "identities": []}, "+55 11 98888-0000"),
    (
        {"phone": None, "identities": [{"jid": "9@lid"}, {"jid": "551133334444@s.whatsapp.net"}]},
        "+55 11 3333-4444",
    ),
    ({"phone": None, "identities": [{"jid": "9@lid"}]}, None),
]


def test_phones_are_written_the_way_people_read_them() -> None:
    node = shutil.which("node")
    assert node is not None, "Node builds the web UI and runs this test"
    assert (WEBUI / "node_modules" / "typescript").is_dir(), "`make webui` installs TypeScript"
    cases = {
        "format": list(FORMAT),
        "jid": list(JIDS),
        "contact": [contact for contact, _ in CONTACTS],
    }
    done = subprocess.run(
        [node, "-e", RUN, json.dumps(cases)],
        cwd=WEBUI,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answered = json.loads(done.stdout)
    assert dict(zip(FORMAT, answered["format"], strict=True)) == FORMAT
    assert dict(zip(JIDS, answered["jid"], strict=True)) == JIDS
    assert answered["contact"] == [expected for _, expected in CONTACTS]

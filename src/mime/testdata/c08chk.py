# c08chk.py — usage: python3 c08chk.py sink/1.eml
# Checks the RAW To: header: Python's parser is lenient and decodes an encoded-word
# inside an addr-spec, so checking only the parsed value would hide the bug.
import sys, re, email
from email import policy
raw = open(sys.argv[1], "rb").read()
m = email.message_from_bytes(raw, policy=policy.SMTPUTF8)
a = m["To"].addresses[0]
print(a.display_name, a.username, a.domain)      # C08-a: Jörg Bücher patient xn--bcher-kva.example
to_raw = re.search(rb"^To:(.*(?:\r\n[ \t].*)*)", raw, re.M | re.I).group(1)
addr_specs = re.findall(rb"<([^>]*)>", to_raw) or [to_raw.strip()]
bad = [s for s in addr_specs if b"=?" in s]
print("PASS" if not bad else "FAIL: encoded-word in addr-spec %r" % bad)

# check_2047.py — usage: python3 check_2047.py out.eml Subject expected.txt
import sys, re, base64, binascii
head = open(sys.argv[1], "rb").read().split(b"\r\n\r\n", 1)[0].decode("ascii")
name, want = sys.argv[2], open(sys.argv[3], encoding="utf-8").read().rstrip("\n")
lines = head.split("\r\n")
i = next(k for k, l in enumerate(lines) if l.lower().startswith(name.lower() + ":"))
phys = [lines[i]]
for l in lines[i + 1:]:
    if l[:1] not in (" ", "\t"): break
    phys.append(l)
ok = True
for l in phys:
    if len(l) > 78: print("physical line longer than 78:", len(l)); ok = False
value = "".join(phys)[len(name) + 1:].strip()          # unfold: drop CRLFs, keep the WSP
out, pos, prev = "", 0, False
for m in re.finditer(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=", value):
    gap = value[pos:m.start()]
    if not (prev and gap.strip() == ""): out += gap      # WSP between adjacent words is not content
    if len(m.group(0)) > 75: print("encoded-word longer than 75:", len(m.group(0))); ok = False
    data = m.group(3)
    raw = base64.b64decode(data) if m.group(2) in "bB" else binascii.a2b_qp(data.replace("_", " "))
    try: out += raw.decode(m.group(1))
    except UnicodeDecodeError:
        print("encoded-word not decodable on its own:", m.group(0)); ok = False
        out += raw.decode(m.group(1), "replace")
    pos, prev = m.end(), True
out += value[pos:]
if out != want: print("decoded value differs:", repr(out)); ok = False
print("PASS" if ok else "FAIL"); sys.exit(0 if ok else 1)

# relay_wrap.py — simulates a relay that splits over-long lines with CRLF SP after signing
# usage: python3 relay_wrap.py in.eml out.eml [limit]
import sys
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 998
res = []
for line in open(sys.argv[1], "rb").read().split(b"\r\n"):
    while len(line) > limit:
        res.append(line[:limit]); line = b" " + line[limit:]
    res.append(line)
open(sys.argv[2], "wb").write(b"\r\n".join(res))

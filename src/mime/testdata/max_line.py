# max_line.py — usage: python3 max_line.py out.eml ; exit 1 if any line > 998 or any bare CR/LF
import sys, re
raw = open(sys.argv[1], "rb").read()
bare = len(re.findall(rb"(?<!\r)\n|\r(?!\n)", raw))
longest = max(len(l) for l in raw.split(b"\r\n"))
print("longest line:", longest, "bare CR/LF:", bare)
sys.exit(1 if longest > 998 or bare else 0)

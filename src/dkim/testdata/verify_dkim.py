#!/usr/bin/python3
# Independent oracle for the signer tests: verifies the topmost
# DKIM-Signature of MESSAGE with python3-dkim, answering the key query with
# the TXT record stored in RECORD_FILE instead of DNS.
# Usage: verify_dkim.py MESSAGE RECORD_FILE   -> prints PASS or FAIL, exit 0 or 1.
import sys

import dkim

message = open(sys.argv[1], "rb").read()
record = open(sys.argv[2], "rb").read().strip()
ok = dkim.verify(message, dnsfunc=lambda name, timeout=5: record)
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)

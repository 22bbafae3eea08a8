#!/usr/bin/python3
"""`domain add` for a domain the running server already signs for.

Run again for the same domain (the default selector is cpYYYYMM, so the
same selector within a month), `domain add` replaces the stored key (INSERT
OR REPLACE) and prints a new TXT record for the same selector name, exit 0.
The running server keeps the signer it cached for that domain and goes on
signing with the old key: once the operator publishes the printed record,
every message fails DKIM until the server is restarted.

Expected: either the CLI refuses to replace the key of an existing domain
and selector (non-zero exit, old record still valid), or the running server
signs the next message with the new key.
"""

from harness import Carepost, Scenario, Sink, TestCA, verify_dkim

s = Scenario("dkim_key_replaced_while_serving")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

st, doc = cp.send({"from": FROM, "to": ["first@example.org"], "subject": "s", "text": "x"})
cp.wait_status(doc["id"], seconds=30)
s.check(len(sink.messages()) == 1 and verify_dkim(sink.messages()[0], cp.dkim_public()),
        "the first message verifies with the first record")

again = cp.admin("domain", "add", "--org", cp.org, "clinic.example.org", check=False)
st, doc = cp.send({"from": FROM, "to": ["second@example.org"], "subject": "s", "text": "x"})
cp.wait_status(doc["id"], seconds=30)
s.check(len(sink.messages()) == 2, "the second message is delivered")
second = sink.messages()[-1]
if again.returncode != 0:
    s.check(verify_dkim(second, cp.dkim_public()),
            "the CLI refused to replace the key, and the old record still verifies")
else:
    printed = again.stdout.strip()
    new_public = printed.split(" TXT ", 1)[1].strip('"').encode()
    s.check(verify_dkim(second, new_public),
            f"the server signs with the key whose record the CLI just printed "
            f"(old record verifies: {verify_dkim(second, cp.dkim_public())})")
s.finish()

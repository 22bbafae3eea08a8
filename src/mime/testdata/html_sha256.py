# html_sha256.py - usage: python3 html_sha256.py message.eml
# Prints the SHA-256 of the decoded text/html part, one encoder-added final
# line break removed (the check from field case C02).
import email, hashlib, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
p = [x for x in m.walk() if x.get_content_type() == "text/html"][0]
d = re.sub(rb"\r?\n\Z", b"", p.get_payload(decode=True))
print(hashlib.sha256(d).hexdigest())

# Independent oracle for the rewriter tests: prints, as a JSON list, the
# entity-decoded http(s) href of every <a> in an HTML file that the rewriter
# should track, found with Python's own HTML parser.
import json
import sys
from html.parser import HTMLParser

PLACEHOLDER = "{{carepost_unsubscribe_url}}"


class Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag != "a":
            return
        names = [name for name, _ in attrs]
        if "href" not in names or "data-carepost-notrack" in names:
            return
        href = next(value for name, value in attrs if name == "href") or ""
        href = href.strip(" \t\n\f\r")
        if href == PLACEHOLDER:
            return
        if href.lower().startswith(("http://", "https://")):
            self.found.append(href)

    handle_startendtag = handle_starttag


parser = Links()
with open(sys.argv[1], encoding="utf-8") as f:
    parser.feed(f.read())
parser.close()
print(json.dumps(parser.found))

# CoRE Link Format (lib/coap/coap_link.py): formatting, RFC 6690 section 4.1
# query filtering, and the bounded parser.
import sys

import coap_link as lf
from hgtest import raises

LINKS = (
    ("sensors/temp", (("rt", "temperature-c"), ("if", "sensor"), ("ct", 0), ("obs", None))),
    ("sensors/light", (("rt", "light-lux core.s"), ("if", "sensor"), ("title", "Light"))),
    ("big", (("ct", 42), ("sz", 65536))),
)


def test_format():
    doc = lf.link_format(LINKS)
    assert doc == (
        '</sensors/temp>;rt="temperature-c";if="sensor";ct=0;obs,'
        '</sensors/light>;rt="light-lux core.s";if="sensor";title="Light",'
        "</big>;ct=42;sz=65536"
    )
    assert lf.format_link("q", (("title", 'a "b"'),)) == '</q>;title="a \\"b\\""'


def test_filters():
    def paths(q):
        return [t for t, _ in lf.parse_links(lf.link_format(LINKS, q))]

    assert paths(["rt=temperature-c"]) == ["/sensors/temp"]
    assert paths(["rt=core.s"]) == ["/sensors/light"]  # one value of a list
    assert paths(["rt=light*"]) == ["/sensors/light"]
    assert paths(["rt=temp"]) == []  # no implicit prefix match
    assert paths(["if=sensor"]) == ["/sensors/temp", "/sensors/light"]
    assert paths(["if=sensor", "rt=temp*"]) == ["/sensors/temp"]  # AND
    assert paths(["href=/big"]) == ["/big"]
    assert paths(["href=/sensors/*"]) == ["/sensors/temp", "/sensors/light"]
    assert paths(["ct=42"]) == ["/big"]
    assert paths(["title=Light"]) == ["/sensors/light"]
    assert paths(["obs"]) == ["/sensors/temp"]
    assert paths(["sz=65536"]) == ["/big"]
    assert paths(["nope=1"]) == []
    assert lf.link_format(LINKS, ["rt=none"]) == ""


def test_parse():
    doc = '</a>;rt="x y";ct=40;obs, </b/c> ; title="q\\"uote,;" ,</d>'
    links = lf.parse_links(doc)
    assert links[0] == ("/a", [("rt", "x y"), ("ct", "40"), ("obs", None)])
    assert links[1] == ("/b/c", [("title", 'q"uote,;')])
    assert links[2] == ("/d", [])
    assert lf.parse_links(b"") == []
    assert lf.parse_links("  ") == []
    assert lf.parse_links(lf.link_format(LINKS))[2] == ("/big", [("ct", "42"), ("sz", "65536")])


def test_parse_negative():
    for bad in ("/a", "<a", '<a>;x="unterminated', "<a>;", "<a>,", "<a> junk", "<a>;=1",
                b"\xff\xfe"):
        raises(lf.LinkFormatError, lf.parse_links, bad)
    raises(lf.LinkFormatError, lf.parse_links, ",".join(["<x>"] * (lf.MAX_LINKS + 1)))
    raises(lf.LinkFormatError, lf.parse_links, "<x>" + ";a" * (lf.MAX_ATTRS + 1))
    if sys.platform != "qemu":  # an 8 KiB string is too much for the 64 KiB image
        raises(lf.LinkFormatError, lf.parse_links, "<" + "x" * lf.MAX_DOC + ">")
    assert len(lf.parse_links(",".join(["<x>"] * lf.MAX_LINKS))) == lf.MAX_LINKS

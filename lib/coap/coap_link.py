# CoRE Link Format (RFC 6690) for hourglass: the /.well-known/core document
# with query filtering (section 4.1), and a bounded parser for clients.
#
# A link is (path, attrs): path like "sensors/temp" (no leading slash) and
# attrs a tuple of (name, value) pairs where value is None for a flag
# (e.g. "obs"), an int (written unquoted, e.g. ct=0) or a str (quoted).
#
# Filtering: each query item "name=value" must match (items are ANDed);
# a value ending in "*" is a prefix match. "href" matches the link target
# ("/path"); "rt", "if" and "ct" are space-separated lists matched per
# value; other attributes compare the whole value.
#
# Caps: parse_links() reads at most MAX_LINKS links, MAX_ATTRS attributes
# per link and MAX_DOC bytes; beyond that it raises LinkFormatError.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


MAX_LINKS = const(64)
MAX_ATTRS = const(16)
MAX_DOC = const(8192)


class LinkFormatError(ValueError):
    pass


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_link(path, attrs):
    parts = ["</", path, ">"]
    for name, value in attrs:
        parts.append(";")
        parts.append(name)
        if value is None:
            continue
        parts.append("=")
        if isinstance(value, int):
            parts.append(str(value))
        else:
            parts.append(_quote(value))
    return "".join(parts)


def _match_value(want, have):
    if want.endswith("*"):
        return have.startswith(want[:-1])
    return want == have


def _split_query(q):
    i = q.find("=")
    if i < 0:
        return q, None
    return q[:i], q[i + 1 :]


def link_matches(path, attrs, query):
    """True if the link passes every filter in `query` (list of 'k=v')."""
    for q in query:
        name, want = _split_query(q)
        if want is None:
            # a bare name matches links that carry the attribute
            if not any(a == name for a, _ in attrs):
                return False
            continue
        if name == "href":
            if not _match_value(want, "/" + path):
                return False
            continue
        found = False
        for a, v in attrs:
            if a != name:
                continue
            if v is None:
                continue
            text = str(v) if isinstance(v, int) else v
            if name in ("rt", "if", "ct"):
                for item in text.split():
                    if _match_value(want, item):
                        found = True
                        break
            elif _match_value(want, text):
                found = True
            if found:
                break
        if not found:
            return False
    return True


def link_format(links, query=()):
    """The link-format document (str) for `links` filtered by `query`."""
    out = []
    for path, attrs in links:
        if query and not link_matches(path, attrs, query):
            continue
        out.append(format_link(path, attrs))
    return ",".join(out)


def _skip_ws(s, i, n):
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def parse_links(doc):
    """Parse a link-format document (str or bytes) into [(target, attrs)]
    where target is the text inside <...> and attrs a list of (name, value)
    with value None for flags and str otherwise (quotes removed)."""
    if not isinstance(doc, str):
        try:
            doc = bytes(doc).decode()
        except UnicodeError:
            raise LinkFormatError("not UTF-8")
    n = len(doc)
    if n > MAX_DOC:
        raise LinkFormatError("document too long")
    links = []
    i = _skip_ws(doc, 0, n)
    if i == n:
        return links
    while True:
        if len(links) >= MAX_LINKS:
            raise LinkFormatError("too many links")
        if i >= n or doc[i] != "<":
            raise LinkFormatError("expected '<' at %d" % i)
        j = doc.find(">", i + 1)
        if j < 0:
            raise LinkFormatError("unterminated target")
        target = doc[i + 1 : j]
        i = j + 1
        attrs = []
        while True:
            i = _skip_ws(doc, i, n)
            if i >= n or doc[i] != ";":
                break
            i = _skip_ws(doc, i + 1, n)
            j = i
            while j < n and doc[j] not in "=;, \t":
                j += 1
            name = doc[i:j]
            if not name:
                raise LinkFormatError("empty attribute name at %d" % i)
            i = _skip_ws(doc, j, n)
            value = None
            if i < n and doc[i] == "=":
                i = _skip_ws(doc, i + 1, n)
                if i < n and doc[i] == '"':
                    i += 1
                    buf = []
                    while True:
                        if i >= n:
                            raise LinkFormatError("unterminated quoted string")
                        c = doc[i]
                        if c == "\\" and i + 1 < n:
                            buf.append(doc[i + 1])
                            i += 2
                            continue
                        if c == '"':
                            i += 1
                            break
                        buf.append(c)
                        i += 1
                    value = "".join(buf)
                else:
                    j = i
                    while j < n and doc[j] not in ";, \t":
                        j += 1
                    value = doc[i:j]
                    i = j
            if len(attrs) >= MAX_ATTRS:
                raise LinkFormatError("too many attributes")
            attrs.append((name, value))
        links.append((target, attrs))
        i = _skip_ws(doc, i, n)
        if i >= n:
            return links
        if doc[i] != ",":
            raise LinkFormatError("expected ',' at %d" % i)
        i = _skip_ws(doc, i + 1, n)

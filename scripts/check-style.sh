#!/bin/sh
# check-style.sh: the house C dialect (README.md, "Code style"), checked file:line; run by 'make check-style' and
# 'make test'. One self-contained file (the checker is Python on stdin) so that `sh check-style.sh` works when copied.
exec /usr/bin/python3 - "$@" <<'PYEOF'
"""check-style.sh: the house C dialect (README "Code style"), checked file:line by 'make check-style'.

Only what a script can check without a C parser, on the text with comments and string literals blanked:
  opening     every file opens with a /* comment */ saying what it owns
  banned      sprintf, vsprintf, strcpy, strcat, gets, atoi, atol, strtok (use snprintf, buf_*, strtol, strtok_r)
  null        `!p` / `p`, never `== NULL` / `!= NULL`
  sizeof      sizeof(x) always with parentheses
  atomics     C11 <stdatomic.h>, never the __atomic_* / __sync_* builtins
  same-line   no body on the same line as its if / for / while / else
  label       the cleanup label is `out:` (not fail/oom/err/error/cleanup/bail/done/end); a label at a
              function's top level is `out` or `out_<word>` (one nested in a loop is a state machine's)
  prefix      exported (non-static) functions: logship/ ls_ or the file's name, common/ the file's name
  length      lines of at most MAX_LINE characters
Usage: sh check-style.sh [--fix] [FILE...]   (default: every tracked C file under common/ service/ logship/)
  --fix rewrites the mechanical hits in place (`p == NULL` -> `!p`, `p != NULL` -> `p` in conditions,
  `sizeof x` -> `sizeof(x)`, a one-statement body moved to its own line), prints the NULL comparisons it
  left alone, then checks as usual.
"""
import os
import re
import subprocess
import sys

MAX_LINE = 120
ROOTS = ("common", "service", "logship")

BANNED = re.compile(r"(?<![\w.>])(v?sprintf|strcpy|strcat|gets|atoi|atol|strtok)\s*\(")
NULLCMP = re.compile(r"[!=]=\s*NULL\b|\bNULL\s*[!=]=")
SIZEOF = re.compile(r"\bsizeof\b(?!\s*\()")
ATOMIC = re.compile(r"\b__(atomic|sync)_\w+")
CTRL = re.compile(r"\b(if|for|while)\s*\(")
ELSE = re.compile(r"\belse\b")
LABEL = re.compile(r"\bgoto\s+(fail|oom|err|error|cleanup|bail|done|end)\b")
LABEL_DEF = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*:(?!:)", re.M)
LABEL_OK = re.compile(r"^out(_[A-Za-z0-9]+)?$")


def check_labels(code, hit):
    """Labels at a function's top level (brace depth 1) are cleanup labels: out or out_<word>."""
    depth_at = []
    depth = 0
    for c in code:
        depth_at.append(depth)
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
    for m in LABEL_DEF.finditer(code):
        name = m.group(1)
        if name in ("default", "case", "public", "private") or depth_at[m.start(1)] != 1:
            continue
        before = code[:m.start(1)].rstrip()
        if before and before[-1] not in ";{}:":
            continue                              # a continued expression (a ? b : c), not a label
        if not LABEL_OK.match(name):
            hit(m.start(1), "label", "label %s: a function's labels are out: or out_<word>:" % name)


def blank(src):
    """Comments and the insides of string/char literals become spaces; newlines stay, so offsets map to lines."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", src[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def no_preproc(text):
    """Preprocessor lines (with their continuations) become blank: they are not C statements."""
    lines = text.split("\n")
    cont = False
    for k, l in enumerate(lines):
        if cont or l.lstrip().startswith("#"):
            cont = l.rstrip().endswith("\\")
            lines[k] = " " * len(l)
    return "\n".join(lines)


def close_paren(text, i):
    """Index just past the ')' matching the '(' at text[i], or -1."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


def rest_of_line(text, j):
    e = text.find("\n", j)
    return text[j:] if e < 0 else text[j:e]


def prefixes(path):
    """Allowed prefixes of exported function names, or None where the rule does not apply."""
    parts = path.split("/")
    base = os.path.splitext(parts[-1])[0]
    if parts[0] == "logship":
        return ("ls_", base + "_")
    if parts[0] == "common":
        return (base + "_",)
    return None


def strip_attrs(s):
    """s without its __attribute__((...)) specifiers."""
    while True:
        m = re.search(r"\b__attribute__\s*\(", s)
        if not m:
            return s
        j = close_paren(s, m.end() - 1)
        s = s[:m.start()] + (s[j:] if j >= 0 else "")


def check_functions(path, code, hit):
    allowed = prefixes(path)
    if allowed is None:
        return
    depth = 0
    start = 0
    for i, c in enumerate(code):
        if c == "{":
            if depth == 0:
                head = code[start:i]
                flat = " ".join(strip_attrs(head).split())
                m = re.match(r"^(.*?)\)$", flat)
                if m and "=" not in flat.split("(")[0]:
                    fm = re.search(r"\b([A-Za-z_]\w*)\s*\(", flat)
                    words = flat.split("(")[0].split()
                    if fm and "static" not in words and not words[0:1] == ["typedef"]:
                        name = fm.group(1)
                        if name not in ("main",) and not name.startswith(allowed):
                            off = start + head.find(name)
                            hit(off, "prefix", "exported function %s lacks the prefix %s"
                                % (name, " or ".join(allowed)))
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif c == ";" and depth == 0:
            start = i + 1


def check(path):
    hits = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
    except OSError as e:
        return ["%s:1: [io] %s" % (path, e)]
    text = blank(raw)
    code = no_preproc(text)
    starts = [0] + [m.end() for m in re.finditer("\n", raw)]

    def line_of(off):
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= off:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def hit(off, rule, msg):
        hits.append((line_of(off), rule, msg))

    if not raw.lstrip(" \t").startswith("/*"):
        hits.append((1, "opening", "the file does not open with a comment saying what it owns"))
    for k, l in enumerate(raw.split("\n")):
        if len(l.expandtabs(8)) > MAX_LINE:
            hits.append((k + 1, "length", "line of %d characters (max %d)" % (len(l.expandtabs(8)), MAX_LINE)))
    for rx, rule, msg in ((BANNED, "banned", "banned call %s (see scripts/check-style.sh)"),
                          (NULLCMP, "null", "comparison with NULL: write !p or p (%s)"),
                          (SIZEOF, "sizeof", "sizeof without parentheses (%s)"),
                          (ATOMIC, "atomics", "builtin %s: use C11 <stdatomic.h>"),
                          (LABEL, "label", "%s: the cleanup label is out:")):
        for m in rx.finditer(text):
            hit(m.start(), rule, msg % m.group(0).strip())
    for m in CTRL.finditer(code):
        j = close_paren(code, m.end() - 1)
        if j < 0:
            continue
        rest = rest_of_line(code, j).strip()
        if rest.startswith("{") and rest != "{":
            hit(j - 1, "same-line", "block body on the same line as its %s" % m.group(1))
            continue
        if not rest or rest.startswith("{"):
            continue
        if m.group(1) == "while" and rest.startswith(";"):
            continue                              # do { } while (c); or an empty loop
        if rest == "\\":
            continue
        hit(j - 1, "same-line", "body on the same line as its %s" % m.group(1))
    for m in ELSE.finditer(code):
        rest = rest_of_line(code, m.end()).strip()
        if rest.startswith("{") and rest != "{":
            hit(m.start(), "same-line", "block body on the same line as its else")
        elif rest and not rest.startswith("{") and not rest.startswith("if") and rest != "\\":
            hit(m.start(), "same-line", "body on the same line as its else")
    check_functions(path, code, hit)
    check_labels(code, hit)
    return ["%s:%d: [%s] %s" % (path, ln, rule, msg) for ln, rule, msg in sorted(hits)]


# ---- --fix: the mechanical rewrites (null, sizeof, bodies to their own line); the rest is a human's call ----
def left_operand(t, k):
    """Start and end of the postfix/unary expression that ends just before t[k] (spaces skipped)."""
    j = k
    while j > 0 and t[j - 1] in " \t\n":
        j -= 1
    end = j
    while j > 0:
        c = t[j - 1]
        if c in ")]":
            d = 0
            while j > 0:
                j -= 1
                if t[j] in ")]":
                    d += 1
                elif t[j] in "([":
                    d -= 1
                    if d == 0:
                        break
            continue
        if c.isalnum() or c in "_.":
            j -= 1
            continue
        if c == ">" and j > 1 and t[j - 2] == "-":
            j -= 2
            continue
        break
    while j > 0 and t[j - 1] == "*":
        p = j - 1
        while p > 0 and t[p - 1] in " \t":
            p -= 1
        if p == 0 or t[p - 1] in "(,=!&|?:;{":
            j -= 1
        else:
            break
    return j, end


def right_operand(t, k):
    """Start and end of the unary expression that starts at t[k] (spaces skipped), or None."""
    j = k
    while j < len(t) and t[j] in " \t":
        j += 1
    s = j
    while j < len(t) and t[j] in "*&":
        j += 1
    m = re.match(r"[A-Za-z_]\w*", t[j:])
    if not m:
        return None
    j += m.end()
    while j < len(t):
        if t[j] == "[":
            d = 0
            while j < len(t):
                d += (t[j] == "[") - (t[j] == "]")
                j += 1
                if d == 0:
                    break
            continue
        m = re.match(r"(\.|->)[A-Za-z_]\w*", t[j:])
        if not m:
            break
        j += m.end()
    return s, j


def fix(path):
    """Rewrite `x == NULL` to `!x`, `x != NULL` to `x` (in a condition) and `sizeof x` to `sizeof(x)`;
    print the NULL comparisons left for a human (value contexts, unclear operands)."""
    with open(path, encoding="utf-8") as fh:
        raw = fh.read()
    t = blank(raw)
    edits = []
    for m in NULLCMP.finditer(t):
        if not m.group(0).startswith(("==", "!=")):
            print("%s:%d: [fix] left alone: %s" % (path, raw.count("\n", 0, m.start()) + 1, m.group(0)))
            continue
        s, e = left_operand(t, m.start())
        p = s
        while p > 0 and t[p - 1] in " \t\n":
            p -= 1
        before = t[max(0, p - 8):p]
        q = m.end()
        while q < len(t) and t[q] in " \t\n":
            q += 1
        after = t[q:q + 2]
        okb = (before.endswith(("(", "&&", "||", "!", "?", ":", ";", "{", ",", "="))
               and not before.endswith(("==", "!=", "<=", ">="))) or re.search(r"\breturn$", before)
        oka = after[:1] in (")", ";", ",", "?", ":") or after in ("&&", "||")
        cond = (before.endswith(("&&", "||", "!", "(")) or after in ("&&", "||") or after[:1] == "?"
                or (before.endswith(";") and after[:1] == ";"))
        if not okb or not oka or s == e or (m.group(0)[0] == "!" and not cond):
            print("%s:%d: [fix] left alone: %s" % (path, raw.count("\n", 0, s) + 1, raw[s:m.end()]))
            continue
        edits.append((s, m.end(), ("!" if m.group(0)[0] == "=" else "") + raw[s:e]))
    for m in SIZEOF.finditer(t):
        r = right_operand(t, m.end())
        if r:
            edits.append((m.end(), r[1], "(" + raw[r[0]:r[1]] + ")"))
    for s, e, new in sorted(edits, reverse=True):
        raw = raw[:s] + new + raw[e:]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(raw)
    return len(edits)


def split_bodies(path):
    """Move a one-statement body that shares its line with if/for/while/else to the next line, indented
    four more than the line's start. Whitespace only, so the meaning cannot change. Returns the count."""
    with open(path, encoding="utf-8") as fh:
        raw = fh.read()
    done = 0
    for _ in range(4):                            # `} else if (a) x;` needs two rounds at most
        code = no_preproc(blank(raw))
        cuts = []
        for m in CTRL.finditer(code):
            j = close_paren(code, m.end() - 1)
            if j >= 0:
                cuts.append((j, m.start()))
        for m in ELSE.finditer(code):
            cuts.append((m.end(), m.start()))
        edits = []
        for j, kw in cuts:
            rest = rest_of_line(code, j)
            body = rest.strip()
            ls = code.rfind("\n", 0, kw) + 1
            head = code[ls:kw].strip()
            if head not in ("", "}", "} else", "else"):
                continue                          # the keyword is not where its line starts
            indent = re.match(r"[ \t]*", raw[ls:]).group(0)
            if body.startswith("{") and body.endswith("}") and body.count("{") == 1 and body.count("}") == 1:
                inner = body[1:-1]
                stmts, depth, cur = [], 0, ""
                for ch in inner:                  # split at ; outside parentheses
                    cur += ch
                    depth += (ch == "(") - (ch == ")")
                    if ch == ";" and depth == 0:
                        stmts.append(cur)
                        cur = ""
                if cur.strip() or not stmts:
                    continue
                off = j + len(rest) - len(rest.lstrip()) + 1       # just past the {
                lines, pos = [], off
                for st in stmts:
                    lines.append(raw[pos:pos + len(st)].strip())
                    pos += len(st)
                end = j + len(rest)
                trail = raw[pos:end].strip()
                if trail != "}":
                    continue                      # a comment after the block: a human's call
                new = " {" + "".join("\n" + indent + "    " + l for l in lines) + "\n" + indent + "}"
                edits.append((j, end, new))
                continue
            if not body or body.startswith(("{", "if", "\\")) or (body == ";"):
                continue
            if not body.endswith(";") or body.count(";") != 1:
                continue                          # more than one statement: a human's call
            if code[kw:kw + 5] == "while" and head == "}":
                continue
            edits.append((j, j + len(rest) - len(rest.lstrip()), "\n" + indent + "    "))
        if not edits:
            break
        last = -1
        for a, b, new in sorted(edits, reverse=True):
            if last >= 0 and raw.find("\n", a) == raw.find("\n", last):
                continue                          # one split per line per round
            raw = raw[:a].rstrip(" \t") + new + raw[b:]
            last = a
            done += 1
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(raw)
    return done


def tracked():
    try:
        out = subprocess.run(["git", "ls-files", "--"] + ["%s/*.[ch]" % r for r in ROOTS],
                             capture_output=True, text=True, check=True).stdout.split()
        if out:
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return sorted(os.path.join(d, f) for r in ROOTS for d, _, fs in os.walk(r)
                  for f in fs if f.endswith((".c", ".h")))


def main(argv):
    args = argv[1:]
    if args[:1] == ["--fix"]:
        files = args[1:] or tracked()
        n = sum(fix(f) + split_bodies(f) for f in files if os.path.isfile(f))
        print("check-style --fix: %d rewrite(s); build, test and review the diff" % n, file=sys.stderr)
        args = files
    files = args or tracked()
    bad = 0
    for f in files:
        if not os.path.isfile(f):
            continue
        for h in check(f):
            print(h)
            bad += 1
    if bad:
        print("check-style: %d hit(s); the dialect is in README.md, section Code style "
              "(--fix rewrites the null, sizeof and one-statement same-line ones)" % bad, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
PYEOF

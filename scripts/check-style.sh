#!/bin/sh
# check-style.sh: machine-checked house rules, run by 'make test' (curl's checksrc idea).
#  - banned calls that have bitten C programs for decades: sprintf, vsprintf,
#    strcpy, strcat, gets, atoi, atol, strtok (use snprintf, buf_*, strtol, strtok_r)
#  - every C file starts with a comment that says what it owns
set -eu
status=0
files=$(git ls-files 'common/*.[ch]' 'service/*.[ch]' 'logship/*.[ch]' 2>/dev/null ||
        find common service logship -name '*.[ch]')
for f in $files; do
    [ -f "$f" ] || continue
    if grep -nE '(^|[^_a-z0-9.>])(v?sprintf|strcpy|strcat|gets|atoi|atol|strtok)[[:space:]]*\(' "$f"; then
        echo "check-style: $f uses a banned call (see scripts/check-style.sh)" >&2
        status=1
    fi
    if ! head -n 1 "$f" | grep -q '^/\*'; then
        echo "check-style: $f does not open with a comment saying what it is" >&2
        status=1
    fi
done
exit $status

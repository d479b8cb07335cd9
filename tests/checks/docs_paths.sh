#!/usr/bin/env bash
# The README and docs/ describe the tree as it is: every repository path they
# name (a relative Markdown link, or a `path` in backticks that starts with one
# of the tree's top-level folders) exists. A path may end in a file or a
# folder (with or without its trailing slash), or a program built from the
# source beside it (`tools/uarea-inspect` from tools/uarea-inspect.c).
. "$(dirname "$0")/lib.sh"
cd "$UAREA_SOURCE_DIR" || exit 1
tops='include|ports|examples|tests|scripts|bench|tools|docs|cmake'
n=0
for doc in README.md docs/*.md; do
    dir=$(dirname "$doc")
    # relative links: ](path) or ](path#anchor), not URLs
    while IFS= read -r link; do
        [ -z "$link" ] && continue
        p=${link%%#*}
        [ -z "$p" ] && continue
        n=$((n + 1))
        [ -e "$dir/$p" ] || { echo "FAIL [$doc]: link to $p: no such path"; FAILS=$((FAILS + 1)); }
    done < <(grep -o '](\([^)]*\))' "$doc" | sed 's/^](\(.*\))$/\1/' | grep -v '^[a-z]*:' )
    # `path` in backticks under a top-level folder of the tree
    while IFS= read -r p; do
        [ -z "$p" ] && continue
        case $p in *'*'*|*'<'*|*'…'*|*'...'*|*'$'*) continue ;; esac
        p=${p%%:*}                      # file:line or path:symbol
        n=$((n + 1))
        [ -e "$p" ] || [ -e "$p.c" ] ||
            { echo "FAIL [$doc]: names $p: no such path"; FAILS=$((FAILS + 1)); }
    done < <(grep -oE "\`($tops)/[^\` ]*\`" "$doc" | tr -d '`' | sort -u)
done
finish "$n paths named by README.md and docs/ exist"

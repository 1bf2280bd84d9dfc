# `cada --help` names only flags its commands take: every flag in a command's entry
# there appears in that command's own usage text (the one it prints for --help or a bad
# option, next to the parsing code), and the forward entry's example runs as written.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
run_expect_rc 0 "$CADA" --help
echo "$OUT" > "$TMP/main_help.txt"
# own usage text of each command (stdout or stderr; exit code 0 or 2)
own_usage() {
  set +e
  case "$1" in
    train|plan|eval|score|consolidate|split|utility|experiment|build-data) "$CADA" "$1" --help 2>&1 ;;
    report) "$CADA" report --help 2>&1 ;;
    convert|forward|generate) "$CADA" "$1" 2>&1 ;;
    "bench forward"|"bench train-step"|"bench matmul") "$CADA" bench forward --no-such-flag 2>&1 ;;
    "bench generate") "$CADA" bench generate --no-such-flag 2>&1 ;;
  esac
  set -e
}
python3 - "$TMP/main_help.txt" > "$TMP/entries.txt" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
entries, cur = [], None
for l in lines:
    m = re.match(r"^  (\S.*)$", l)
    if m:
        words = m.group(1).split()
        name = words[0] if words[0] != "bench" else "bench " + words[1].split("|")[0]
        cur = [name, m.group(1)]
        entries.append(cur)
    elif cur and l.startswith("   "):
        cur[1] += " " + l.strip()
    else:
        cur = None
for name, text in entries:
    flags = sorted(set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", text)))
    # flags named in another command's description ("cada train --help") do not count
    flags = [f for f in flags if f not in ("--help",)]
    print(name + "\t" + " ".join(flags))
PY
checked=0
while IFS=$'\t' read -r name flags; do
  case "$name" in inspect|version|"bench tokenizer"|"bench allreduce"|"bench learner") continue ;; esac
  usage="$(own_usage "$name")"
  [ -n "$usage" ] || fail "no usage text from 'cada $name'"
  for f in $flags; do
    grep -qF -- "$f" <<<"$usage" || fail "cada --help shows $f for '$name', but its usage does not:"$'\n'"$usage"
  done
  checked=$((checked + 1))
done < "$TMP/entries.txt"
[ "$checked" -ge 9 ] || fail "checked only $checked commands of cada --help:"$'\n'"$(cat "$TMP/entries.txt")"
expect_contains "$(cat "$TMP/main_help.txt")" "forward [--model PATH] --ids ID,ID,..."
run_expect_rc 0 "$CADA" forward --model "$MODEL" --ids 1,2,3
expect_contains "$OUT" "mean cross-entropy"
run_expect_rc 2 "$CADA" forward --model "$MODEL" --text-ids 1,2,3

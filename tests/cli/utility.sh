# `cada utility` on small GSM8K / MMLU / BBH files with a tiny random model: the numbers
# are near chance; what is checked is the counting: n per set, accuracy = correct / n in
# [0, 1], every item's prediction is what the rule makes of its output (GSM8K's last
# number, recomputed here; MMLU's letter of the highest logged log-prob), --limit, and
# errors that name the file and line.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
[ -f "$MODEL" ] || fail "$MODEL absent (make fetch-models)"
tiny_smol "$TMP/tiny"
cd "$TMP"
cat > gsm8k.jsonl <<'J'
{"question": "Tom has 3 apples and buys 4 more. How many apples does he have?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"}
{"question": "A book costs $12. How much do 3 books cost?", "answer": "12 * 3 = <<12*3=36>>36\n#### 36"}
{"question": "Sam walks 2 km a day for 5 days. How far does he walk?", "answer": "2 * 5 = <<2*5=10>>10\n#### 10"}
J
cat > astronomy_test.csv <<'J'
"Which planet is closest to the Sun?",Venus,Mercury,Earth,Mars,B
What is the Moon?,A star,A planet,A natural satellite,A comet,C
"How many planets orbit the Sun, officially?",7,9,10,8,D
Which star is nearest to Earth?,The Sun,Sirius,Vega,Polaris,A
J
cat > astronomy_dev.csv <<'J'
What colour is Mars?,Red,Blue,Green,White,A
What does a telescope do?,Heats,Magnifies distant objects,Weighs,Cools,B
J
cat > boolean_expressions.json <<'J'
{"canary": "c", "examples": [{"input": "not ( True ) and ( True ) is", "target": "False"},
 {"input": "True and not not ( not False ) is", "target": "True"}, {"input": "not True or False is", "target": "False"}]}
J
run_expect_rc 0 "$CADA" utility --model "$TMP/tiny" --set gsm8k:gsm8k.jsonl --set mmlu:astronomy_test.csv \
  --mmlu-dev astronomy_dev.csv --set bbh:boolean_expressions.json --max-tokens 12 --out out --quiet
expect_contains "$OUT" "gsm8k" "n 3" "mmlu" "n 4" "out/report.json"
python3 - out 3 4 3 <<'PY' || fail "report"
import json, re, sys
d, want = sys.argv[1], [int(x) for x in sys.argv[2:]]
rep = json.load(open(f"{d}/report.json"))
items = [json.loads(l) for l in open(f"{d}/utility.jsonl")]
assert [s["n"] for s in rep["sets"]] == want, rep
assert [s["kind"] for s in rep["sets"]] == ["gsm8k", "mmlu", "bbh"], rep
for s in rep["sets"]:
    mine = [x for x in items if x["set"] == s["name"]]
    assert len(mine) == s["n"], (s, len(mine))
    assert s["correct"] == sum(x["correct"] for x in mine), s
    assert 0 <= s["accuracy"] <= 1 and abs(s["accuracy"] - s["correct"] / s["n"]) < 1e-4, s
assert rep["sets"][1]["shots"] == 2, rep["sets"][1]
def last_number(t):
    # as the C rule reads numbers: a comma continues one only before three digits
    m = re.findall(r"[-+]?\d(?:\d|,(?=\d{3}))*(?:\.\d+)?", t)
    if not m: return ""
    v = m[-1].replace(",", "").lstrip("+")
    if "." in v: v = v.rstrip("0").rstrip(".")
    return v
for x in items:
    if x["set"] == "gsm8k":
        assert x["reference"] in ("7", "36", "10"), x
        assert x["prediction"] == last_number(x["output"]), x
        assert x["correct"] == (x["prediction"] == x["reference"]), x
    elif x["set"] == "astronomy_test":
        lp = x["output"]
        assert x["prediction"] == max("ABCD", key=lambda k: lp[k]), x
        assert all(v <= 0 for v in lp.values()) and sum(2.718281828 ** v for v in lp.values()) <= 1.0001, x
        assert x["correct"] == (x["prediction"] == x["reference"]), x
    else:
        assert isinstance(x["output"], str) and x["reference"] in ("True", "False"), x
        if x["correct"]: assert x["prediction"] == x["reference"].lower(), x
print("report ok:", [(s["name"], s["n"], s["accuracy"]) for s in rep["sets"]])
PY
# --limit: two of each, spread over the file
run_expect_rc 0 "$CADA" utility --model "$TMP/tiny" --set gsm8k:gsm8k.jsonl --set mmlu:astronomy_test.csv --limit 2 \
  --max-tokens 4 --out lim --quiet
python3 - lim 2 2 <<'PY' || fail "limit"
import json, sys
rep = json.load(open(f"{sys.argv[1]}/report.json"))
assert [s["n"] for s in rep["sets"]] == [2, 2] and rep["sets"][1]["shots"] == 0, rep
PY
# errors name the file and the line
printf '{"question": "ok?", "answer": "#### 1"}\n{"question": "bad", "answer": "forty"}\n' > bad.jsonl
run_expect_rc 1 "$CADA" utility --model "$TMP/tiny" --set gsm8k:bad.jsonl --quiet
expect_contains "$OUT" "bad.jsonl:2: field 'answer' does not end with \"#### <number>\""
run_expect_rc 1 "$CADA" utility --model "$TMP/tiny" --set mmlu:missing_test.csv --quiet
expect_contains "$OUT" "missing_test.csv"
run_expect_rc 2 "$CADA" utility --set arc:x.jsonl
expect_contains "$OUT" "--set takes gsm8k:FILE, mmlu:FILE or bbh:FILE"
echo "utility ok"

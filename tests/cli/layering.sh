# The code's shape, checked: no include cycle anywhere in src/ (a header that, through
# the headers it includes, includes itself again, or two modules whose headers include
# each other), and no file of src/sched longer than 600 lines (the trainer is a set of
# stage modules, not one file). Fails naming the cycle or the file.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
python3 - <<'PY' || fail "include structure"
import os, re, sys
root = "src"
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
graph = {}
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith((".h", ".c")):
            p = os.path.relpath(os.path.join(d, f), root)
            deps = []
            for name in inc.findall(open(os.path.join(d, f), encoding="utf-8", errors="replace").read()):
                if os.path.exists(os.path.join(root, name)):
                    deps.append(name)
            graph[p] = deps
# 1. header cycles
state = {}
def visit(n, stack):
    state[n] = 1
    for m in graph.get(n, []):
        if state.get(m) == 1:
            cyc = stack[stack.index(m):] + [m] if m in stack else [n, m]
            print("include cycle: " + " -> ".join(cyc)); sys.exit(1)
        if not state.get(m):
            visit(m, stack + [m])
    state[n] = 2
for n in sorted(graph):
    if n.endswith(".h") and not state.get(n):
        visit(n, [n])
# 2. module cycles: module X (X.c or X.h) includes Y.h and module Y includes X.h. A
# folder's private header (NAME_internal.h) belongs to the modules it serves, not apart.
def module(p): return p[:-2]
mods = {}
for p, deps in graph.items():
    mods.setdefault(module(p), set()).update(module(d) for d in deps if module(d) != module(p))
for a, deps in mods.items():
    for b in deps:
        if a.endswith("_internal") or b.endswith("_internal"):
            continue
        if a in mods.get(b, ()) and a < b:
            print(f"modules include each other: {a} <-> {b}"); sys.exit(1)
print(f"{len(graph)} files, no include cycle")
PY
for f in src/sched/*.c src/sched/*.h; do
  n=$(wc -l < "$f")
  [ "$n" -le 600 ] || fail "$f has $n lines (limit 600: split it into stages)"
done
echo "layering ok"

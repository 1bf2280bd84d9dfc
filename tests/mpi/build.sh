#!/usr/bin/env bash
# Builds the MPI test programs (tests/mpi/*.c) into build/mpi/, with the Makefile's own
# compiler, flags and link line (read from it, so nothing here can drift), linked
# against the library objects (everything of src/ except main.o), which it asks make to
# build first.
# Usage: bash tests/mpi/build.sh          -> build/mpi/      (prints nothing on success)
#        SAN=1 bash tests/mpi/build.sh    -> build-asan/mpi/ with AddressSanitizer and UBSan,
#          the flags of `make asan`; run with LSAN_OPTIONS=suppressions=tests/mpi/lsan.supp
#          ASAN_OPTIONS=fast_unwind_on_malloc=0:malloc_context_size=30 (Open MPI's own
#          allocations are suppressed, see that file)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
vars=()
out=build/mpi
if [ "${SAN:-0}" = 1 ]; then
  vars=(BUILD=build-asan "OPT=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined")
  out=build-asan/mpi
fi
mk() { make -s --no-print-directory "${vars[@]}" -f Makefile -f <(printf 'cada-print-%%:\n\t@echo $($*)\n') "cada-print-$1"; }
CC_=$(mk CC)
CFLAGS_=$(mk ALL_CFLAGS)
LDLIBS_=$(mk LDLIBS)
OBJS_="$(mk LIB_OBJS) $(mk CU_OBJS)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# only the library objects: the programs here do not need the unit tests or main.o
# shellcheck disable=SC2086
if ! make -s --no-print-directory "${vars[@]}" $OBJS_ >"$log" 2>&1; then
  cat "$log" >&2; echo "tests/mpi/build.sh: make failed" >&2; exit 1
fi
SANLINK=""
[ "${SAN:-0}" = 1 ] && SANLINK="-fsanitize=address,undefined"
mkdir -p "$out"
for src in tests/mpi/*.c; do
  name=$(basename "$src" .c)
  # shellcheck disable=SC2086
  $CC_ $CFLAGS_ -Itests/mpi -c "$src" -o "$out/$name.o" -Werror
  # shellcheck disable=SC2086
  $CC_ -o "$out/$name" "$out/$name.o" $OBJS_ $SANLINK $LDLIBS_
done

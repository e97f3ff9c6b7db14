# PixelCNN on a CPU, in C.  `make run`, `make test`, `make bench` (see README.md).
# SANITIZE=1 builds everything with ASan + UBSan into build-san/.

CC  ?= gcc
CXX ?= g++
ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san
SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SAN   :=
endif

WARN     := -Wall -Wextra -Werror
INC      := -Ikernels -Ireference -Imodel
CFLAGS   := -std=c11 -O2 -g $(WARN) -fopenmp -D_POSIX_C_SOURCE=200809L $(INC) $(SAN) $(EXTRA_CFLAGS)
CXXFLAGS := -std=c++17 -O2 -g $(WARN) -fopenmp $(INC) $(SAN) $(EXTRA_CXXFLAGS)
# ISA flags go only on the kernel files that need them (named *__avx2.c, *__avx512.c)
AVX2_FLAGS   := -mavx2 -mfma
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma

LIBS   := -lcjson -lpng -lz -lm
DNNL   := -ldnnl
XSMM   := -lxsmm -lxsmmnoblas -lpthread -lrt -ldl -lm
GTEST  := -lgtest -lpthread
GBENCH := -lbenchmark -lpthread

LIB_SRC   := $(wildcard reference/*.c) $(wildcard kernels/*.c) \
             $(filter-out model/main.c,$(wildcard model/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/*.cc)
TEST_OBJ  := $(TEST_SRC:%.cc=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/*.cc)
BENCH_CSRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.cc=$(BUILD)/%.o) $(BENCH_CSRC:%.c=$(BUILD)/%.o)

LIBPCNN := $(BUILD)/libpcnn.a
PIXELCNN := $(BUILD)/pixelcnn
TESTS := $(BUILD)/pcnn_tests
BENCH := $(BUILD)/pcnn_bench

.PHONY: all deps test run bench clean
all: deps $(PIXELCNN) $(TESTS)

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/kernels/%__avx2.o: XFLAGS = $(AVX2_FLAGS)
$(BUILD)/kernels/%__avx512.o: XFLAGS = $(AVX512_FLAGS)
$(BUILD)/bench/%__avx2.o: XFLAGS = $(AVX2_FLAGS)
$(BUILD)/bench/%__avx512.o: XFLAGS = $(AVX512_FLAGS)

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(LIBPCNN): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(PIXELCNN): $(BUILD)/model/main.o $(LIBPCNN)
	$(CC) $(CFLAGS) $^ -o $@ $(DNNL) $(LIBS)

$(TESTS): $(TEST_OBJ) $(LIBPCNN)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GTEST) $(DNNL) $(LIBS)

$(BENCH): $(BENCH_OBJ) $(LIBPCNN)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GBENCH) $(DNNL) $(XSMM) $(LIBS)

# The test suite; its last line is `N passed, N failed`, non-zero exit on failure.
test: deps $(PIXELCNN) $(TESTS) $(BENCH)
	PIXELCNN_BIN=$(PIXELCNN) PCNN_BENCH_BIN=$(BENCH) $(TESTS)

# Kernel and model benchmarks beside oneDNN, libxsmm and PyTorch; writes
# bench/results/<cpu>-<date>.json, bench/RESULTS.md and bench/ratios.png.
bench: deps $(BENCH)
	@scripts/install-deps.sh --bench
	BUILD=$(BUILD) scripts/bench.sh $(BENCH)

# The main job: train a small model on Fashion-MNIST, evaluate, sample, plot.
run: deps $(PIXELCNN)
	PIXELCNN_BIN=$(PIXELCNN) scripts/run.sh

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(BUILD)/model/main.d

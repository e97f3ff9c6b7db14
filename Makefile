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
# the make program, for the install test (named through an alias: a recipe
# line that says $(MAKE) is run even by `make -n`)
MAKE_CMD := $(MAKE)
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
# ISA flags go only on the kernel files that need them (named *__avx2.c, *__avx512.c,
# *__avx512bf16.c)
AVX2_FLAGS   := -mavx2 -mfma
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma
AVX512BF16_FLAGS := $(AVX512_FLAGS) -mavx512bf16

LIBS   := -lcjson -lpng -lz -lm
# OpenMPI, for the pixelcnn program's ranks only (model/cli_mpi.c); the
# library never sees MPI
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
DNNL   := -ldnnl
XSMM   := -lxsmm -lxsmmnoblas -lpthread -lrt -ldl -lm
GTEST  := -lgtest -lpthread
GBENCH := -lbenchmark -lpthread

# the pixelcnn program's files (model/main.c, model/cli*.c) are not in the library
CLI_SRC   := model/main.c $(wildcard model/cli*.c)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB_SRC   := $(wildcard reference/*.c) $(wildcard kernels/*.c) \
             $(filter-out $(CLI_SRC),$(wildcard model/*.c))
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
# data-parallel training over MPI ranks, timed (bench/mpi/bench_mpi.c)
BENCH_MPI := $(BUILD)/pcnn_bench_mpi

# ---- the installed library: `make install [PREFIX=/usr/local] [DESTDIR=]`
# libpixelcnn.a (the objects of the build), libpixelcnn.so (the same sources
# compiled with -fPIC into $(BUILD)/pic/; exports only pixelcnn_*), the public
# header model/pixelcnn.h, the pixelcnn program and pixelcnn.pc. check, tune
# and onednn.c (oneDNN, for `pixelcnn check` / `tune` only) stay out of it, so
# a program that embeds the library does not need oneDNN.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib
INCDIR  := $(PREFIX)/include
PCDIR   := $(LIBDIR)/pkgconfig
VERSION := $(shell sed -n 's/^\#define PIXELCNN_VERSION "\(.*\)"/\1/p' model/pixelcnn.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
PUB_SRC := $(filter-out model/check.c model/tune.c model/onednn.c,$(LIB_SRC))
PUB_A   := $(BUILD)/libpixelcnn.a
PUB_SO  := $(BUILD)/libpixelcnn.so.$(VERSION)
PUB_PIC := $(PUB_SRC:%.c=$(BUILD)/pic/%.o)
# what a program linking libpixelcnn.a also needs (pkg-config --static);
# -lgomp, not -fopenmp: the objects call GNU libgomp whatever the linking compiler
PUB_PRIVATE := -lcjson -lpng -lz -lgomp -lm

# ---- libFuzzer targets (tests/fuzz/): a clang build of the library with
# ASan + UBSan + fuzzer instrumentation into build-fuzz/, whatever SANITIZE is.
#   make fuzz-build                    build-fuzz/fuzz_<target> for every target
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="safetensors plan"] [FUZZ_JOBS=1]
#             runs each target on a scratch copy of tests/fuzz/corpus/<target>;
#             non-zero exit on any finding (artifacts in build-fuzz/artifacts/)
# OpenMP: clang links gcc's libgomp (-fopenmp=libgomp, already a dependency);
# tests/fuzz/include/omp.h declares the routines (libomp-dev is not needed).
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_ALL     := safetensors checkpoint idx cifar plan npy prime
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
# -O1, except the SIMD kernel files (*__avx2.c, *__avx512.c, *__avx512bf16.c) at -O0: with
# ASan + UBSan + fuzzer coverage together clang 14 takes many minutes per
# kernel file at -O1 (~2 s at -O0), and no loader runs those kernels.
FUZZ_OPT     := -O1
FUZZ_SANF    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -g $(WARN) -fopenmp=libgomp -D_POSIX_C_SOURCE=200809L \
                -Itests/fuzz/include $(INC) -fsanitize=fuzzer-no-link $(FUZZ_SANF)
FUZZ_LDFLAGS := -fopenmp=libgomp -fsanitize=fuzzer $(FUZZ_SANF)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIBPCNN := $(FUZZ_BUILD)/libpcnn.a
FUZZ_BINS    := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: all deps test run bench clean install uninstall
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
$(BUILD)/kernels/%__avx512bf16.o: XFLAGS = $(AVX512BF16_FLAGS)
$(BUILD)/bench/%__avx512bf16.o: XFLAGS = $(AVX512BF16_FLAGS)
$(BUILD)/model/cli_mpi.o: XFLAGS = $(MPI_CFLAGS)

# position-independent twins of the library objects, for libpixelcnn.so
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC $(XFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/pic/kernels/%__avx2.o: XFLAGS = $(AVX2_FLAGS)
$(BUILD)/pic/kernels/%__avx512.o: XFLAGS = $(AVX512_FLAGS)
$(BUILD)/pic/kernels/%__avx512bf16.o: XFLAGS = $(AVX512BF16_FLAGS)

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(LIBPCNN): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(PIXELCNN): $(CLI_OBJ) $(LIBPCNN)
	$(CC) $(CFLAGS) $^ -o $@ $(DNNL) $(MPI_LIBS) $(LIBS)

$(BENCH_MPI): $(BUILD)/bench/mpi/bench_mpi.o $(BUILD)/model/cli_mpi.o $(LIBPCNN)
	$(CC) $(CFLAGS) $^ -o $@ $(MPI_LIBS) $(LIBS)
$(BUILD)/bench/mpi/bench_mpi.o: XFLAGS = $(MPI_CFLAGS)

$(PUB_A): $(PUB_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(PUB_SO): $(PUB_PIC) model/pixelcnn.map
	$(CC) -shared -fopenmp $(SAN) -Wl,-soname,libpixelcnn.so.$(SOMAJOR) \
	  -Wl,--version-script=model/pixelcnn.map -Wl,--no-undefined $(PUB_PIC) -o $@ $(LIBS)

$(TESTS): $(TEST_OBJ) $(LIBPCNN)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GTEST) $(DNNL) $(LIBS)

$(BENCH): $(BENCH_OBJ) $(LIBPCNN)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GBENCH) $(DNNL) $(XSMM) $(LIBS)

# The test suite; its last line is `N passed, N failed`, non-zero exit on failure.
# tests/test_install.cc runs `$PCNN_MAKE install PREFIX=<temporary>` (what
# install needs is built here first, so it only copies) and builds
# examples/embed.c against that prefix with PCNN_CC and pkg-config.
test: deps $(PIXELCNN) $(TESTS) $(BENCH) $(BENCH_MPI) $(FUZZ_BINS) $(PUB_A) $(PUB_SO)
	PIXELCNN_BIN=$(PIXELCNN) PCNN_BENCH_BIN=$(BENCH) PCNN_BENCH_MPI_BIN=$(BENCH_MPI) FUZZ_BIN_DIR=$(FUZZ_BUILD) \
	  PCNN_SRC_DIR=$(CURDIR) PCNN_CC=$(CC) PCNN_CXX=$(CXX) \
	  PCNN_MAKE="$(MAKE_CMD) --no-print-directory -C $(CURDIR) BUILD=$(BUILD) SANITIZE=$(SANITIZE)" \
	  $(TESTS)

# Kernel and model benchmarks beside oneDNN, libxsmm and PyTorch; writes
# bench/results/<cpu>-<date>.json, bench/RESULTS.md, bench/ratios.png and
# bench/profile.png (scripts/bench.sh; PCNN_BENCH_ROUNDS alternating rounds
# against the peers, default 5).
bench: deps $(BENCH) $(BENCH_MPI)
	@scripts/install-deps.sh --bench
	BUILD=$(BUILD) PCNN_BENCH_MPI_BIN=$(BENCH_MPI) scripts/bench.sh $(BENCH)

# The main job: train a small model on Fashion-MNIST, evaluate, sample, plot.
run: deps $(PIXELCNN)
	PIXELCNN_BIN=$(PIXELCNN) scripts/run.sh

clean:
	rm -rf build build-san

# Installs the library, the header, pixelcnn.pc and the program (README,
# "Embedding the library"). With SANITIZE=1 the installed library is the
# sanitized build and pixelcnn.pc says so (Libs carries the -fsanitize flags).
install: $(PIXELCNN) $(PUB_A) $(PUB_SO)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 755 $(PIXELCNN) $(DESTDIR)$(BINDIR)/pixelcnn
	install -m 644 $(PUB_A) $(DESTDIR)$(LIBDIR)/libpixelcnn.a
	install -m 755 $(PUB_SO) $(DESTDIR)$(LIBDIR)/libpixelcnn.so.$(VERSION)
	ln -sf libpixelcnn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpixelcnn.so.$(SOMAJOR)
	ln -sf libpixelcnn.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libpixelcnn.so
	install -m 644 model/pixelcnn.h $(DESTDIR)$(INCDIR)/pixelcnn.h
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' 'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: pixelcnn' \
	  'Description: PixelCNN on a CPU in C11: model, Nadam trainer, samplers' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -lpixelcnn$(if $(SAN), $(SAN))' 'Libs.private: $(PUB_PRIVATE)' \
	  > $(DESTDIR)$(PCDIR)/pixelcnn.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pixelcnn $(DESTDIR)$(INCDIR)/pixelcnn.h $(DESTDIR)$(PCDIR)/pixelcnn.pc \
	  $(DESTDIR)$(LIBDIR)/libpixelcnn.a $(DESTDIR)$(LIBDIR)/libpixelcnn.so \
	  $(DESTDIR)$(LIBDIR)/libpixelcnn.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libpixelcnn.so.$(VERSION)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(PUB_PIC:.o=.d) \
  $(BUILD)/bench/mpi/bench_mpi.d

.PHONY: fuzz-build fuzz fuzz-corpus fuzz-clean
fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_OPT) $(XFLAGS) -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/kernels/%__avx2.o: XFLAGS = $(AVX2_FLAGS)
$(FUZZ_BUILD)/kernels/%__avx512.o: XFLAGS = $(AVX512_FLAGS)
$(FUZZ_BUILD)/kernels/%__avx512bf16.o: XFLAGS = $(AVX512BF16_FLAGS)
$(FUZZ_BUILD)/kernels/%__avx2.o $(FUZZ_BUILD)/kernels/%__avx512.o $(FUZZ_BUILD)/kernels/%__avx512bf16.o: FUZZ_OPT = -O0

$(FUZZ_LIBPCNN): $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIBPCNN)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $^ -o $@ $(DNNL) $(LIBS)

fuzz: deps fuzz-build
	FUZZ_BIN_DIR=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	  tests/fuzz/run.sh $(FUZZ_TARGETS)

# Regenerates the seed files of tests/fuzz/corpus/ (committed; run by hand).
fuzz-corpus: $(BUILD)/make_corpus
	$(BUILD)/make_corpus tests/fuzz/corpus
$(BUILD)/make_corpus: tests/fuzz/make_corpus.c $(LIBPCNN)
	$(CC) $(CFLAGS) $^ -o $@ $(DNNL) $(LIBS)

.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o)
clean: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_ALL:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.d)

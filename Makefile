# The entry points people type. `make demo` and `make test` work on a fresh Debian 12.
MAKEFLAGS += --no-print-directory
BUILD_DIR ?= build
JOBS      ?= $(shell nproc)
MLOPS     := $(BUILD_DIR)/cli/mlops
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: help deps build test train demo bench lint clean

help:
	@echo "make demo    install what is missing, build, train + register + predict"
	@echo "make test    install what is missing, build with -Werror, run every test (ctest)"
	@echo "make deps    install the missing Debian packages (idempotent)"
	@echo "make build   Release build in $(BUILD_DIR)/"
	@echo "make train   train and register the course's default model"
	@echo "make bench   run the benchmarks in bench/ (minutes; see bench/README.md)"

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps lint
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) -DMLOPS_WERROR=ON >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

lint:
	@scripts/check_layout.sh

# The course's M3 command: register only above the 0.85 accuracy gate.
train: build
	$(MLOPS) train --n-samples 1000 --c-param 0.1 --register --min-accuracy 0.85

demo: build
	@scripts/demo.sh $(MLOPS)

bench: build
	@scripts/deps.sh bench
	@bench/train.sh $(MLOPS)

clean:
	rm -rf $(BUILD_DIR)

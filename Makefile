# Thin front door over CMake and the scripts. `make test` is what CI runs.
BUILD ?= build
SAN_BUILD ?= build-san
JOBS ?= $(shell nproc)

.PHONY: all build san bootstrap test unit integration quickstart format format-check clean

all: build

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

san:
	cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTK_SANITIZE=ON -DTK_WERROR=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)

bootstrap:
	scripts/bootstrap

unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure

# The whole suite, as CI runs it: install and build everything (cached outside the clone),
# then unit and integration tests in the sanitizer build, then the format check.
test: bootstrap san format-check
	ctest --test-dir $(SAN_BUILD) -L unit --output-on-failure
	ctest --test-dir $(SAN_BUILD) -L integration --output-on-failure

integration: build
	ctest --test-dir $(BUILD) -L integration --output-on-failure

quickstart: bootstrap build
	scripts/quickstart

format:
	clang-format -i lib/*.[ch] agent/*.[ch] orchestrator/*.[ch] tests/*.h tests/*/*.c bench/*.c

format-check:
	clang-format --dry-run --Werror lib/*.[ch] agent/*.[ch] orchestrator/*.[ch] tests/*.h tests/*/*.c bench/*.c

clean:
	rm -rf $(BUILD) $(SAN_BUILD)

# The two commands of the README. Each installs what is missing, configures, builds and runs.
BUILD ?= build
JOBS ?= 2
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime

.PHONY: all deps configure build test demo bench clean

all: build

deps:
	bash deploy/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1500

demo: build
	bash deploy/demo.sh $(BUILD)

bench: build
	bash bench/bench_trainer.sh $(BUILD)

clean:
	rm -rf $(BUILD)

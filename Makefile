# Quick start: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
export BUILD_DIR := $(abspath $(BUILD_DIR))

.PHONY: all deps configure build up down status run demo test test-unit format tidy bench-events bench-reservation bench-pipeline clean help \
	images up-containers down-containers

all: build

help:
	@echo "make demo          set up, start the stack and the five services, show them healthy, stop"
	@echo "make test          set up, build, start the stack, run every test, stop what it started"
	@echo "make deps          install Debian packages and the Kafka jars (root or sudo)"
	@echo "make build         configure and build (CMake + Ninja, warnings are errors)"
	@echo "make up|down|status  the local stack: 3 Kafka nodes (KRaft), MariaDB, Redis"
	@echo "make run           make up, then start the five services in the background"
	@echo "make format        rewrite C++ files into the house style (.clang-format; make test checks it)"
	@echo "make tidy          .clang-tidy's bug and function-size checks over the sources (slow: minutes)"
	@echo "make bench-events  libs/events vs Kafka's ProducerPerformance and EndToEndLatency"
	@echo "make bench-reservation  holds via HTTP vs a raw SQL client; GET seats vs nginx"
	@echo "make bench-pipeline  the event pipeline, commit to effect, on a quiet system (light demo)"
	@echo "make images        build every container image offline (scripts/containers.sh)"
	@echo "make up-containers|down-containers  the whole system in containers (Docker Compose)"

deps:
	@bash scripts/deps.sh

$(BUILD_DIR)/build.ninja:
	@command -v cmake >/dev/null && command -v ninja >/dev/null || bash scripts/deps.sh
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTICKETING_WERROR=ON

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

up: build
	@bash scripts/stack.sh up

down:
	@bash scripts/stack.sh down

status:
	@bash scripts/stack.sh status

run: build
	@bash scripts/stack.sh run

demo: build
	@USERS=$(USERS) KEEP=$(KEEP) INSTANCES=$(INSTANCES) LB=$(LB) bash scripts/demo.sh

test: build
	@bash scripts/test.sh

test-unit: build
	ctest --test-dir $(BUILD_DIR) -L unit --output-on-failure

format:
	@command -v clang-format >/dev/null || bash scripts/deps.sh
	@bash scripts/format.sh

tidy: configure
	@command -v clang-tidy >/dev/null || bash scripts/deps.sh
	@bash scripts/tidy.sh

bench-events: build
	@bash bench/bench-events.sh

bench-reservation: build
	@bash bench/bench-reservation.sh

bench-pipeline: build
	@bash bench/bench-pipeline.sh

images: deps
	@bash scripts/containers.sh images

up-containers: deps
	@bash scripts/containers.sh up

down-containers:
	@bash scripts/containers.sh down

clean:
	rm -rf $(BUILD_DIR)

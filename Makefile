# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
.PHONY: setup demo test check test-cluster fuzz bench-preprocess bench-control bench-stain clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

# test.sh runs setup as its first timed step.
test:
	bash scripts/test.sh

# The inner loop: fmt, crate graph, clippy, host unit tests (CRATES="edge shared" narrows it).
check:
	bash scripts/check.sh

# The Slurm test alone (make test runs it too): a one-node cluster, sharded runs merged.
test-cluster: setup
	bash scripts/test_cluster.sh

# Fuzzes the record-log reader and bundle-metadata decoder for FUZZ_SECONDS each (default 60).
fuzz: setup
	bash scripts/fuzz.sh

# Criterion benchmark of the edge's per-frame preprocessing, with the share of a core it leaves.
bench-preprocess: setup
	bash scripts/bench_preprocess.sh

# Frames per second of the screening loop quiet and with a slowloris client and 1,000 silent
# control-socket connections (one JSON line; ratio goal >= 0.95).
bench-control: setup
	. scripts/env.sh && cargo bench -p melanoscope-edge --bench control_stall

# Stain normalisation of a 1080p frame on one core: fit and apply per method, and the edge's
# running tracker on six fields, against one copy of the frame (criterion).
bench-stain: setup
	. scripts/env.sh && cargo bench -p melanoscope-shared --bench stain

clean:
	cargo clean

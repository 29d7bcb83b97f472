# Two commands do all set-up (see README):
#   make lab    set up the environment if needed, then open the course in JupyterLab
#   make test   set up the environment if needed, then run the whole test suite
# Other targets: make test-fast (lint and all but the browser tests), make test-browser (lectures in a real
#                browser), make test-notebooks (lectures under nbval, where no browser is available),
#                make release (student versions of the labs), make grade LAB=.. SUBMISSIONS=.. (grade a class),
#                make site (static course site), make classroom (a demo JupyterHub class),
#                make notebooks (re-execute lectures),
#                make bench (benchmarks).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers; notebooks keep their cells on one worker
JOBS   ?= 2

.PHONY: classroom lab test test-fast test-browser test-notebooks lint release grade sandbox browser site notebooks bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# JupyterLab refuses to run as root unless told; containers and cloud machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# One thread per kernel: the lectures' tensors are small, so a second thread only spins, and with one
# thread every reduction runs in the same order, so a student sees the committed numbers.
lab: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/lectures/index.ipynb $(LAB_ARGS)

# One BLAS/OpenMP thread per worker: two workers each spinning two torch threads on small
# operations oversubscribe the cores and run many times slower.
# The grader's sandbox is Debian's bubblewrap: installed here when missing and we are root with apt-get.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || echo "warning: bubblewrap is not installed; grading tests run without the sandbox"

# The browser tests drive Debian's Chromium: installed here when missing and we are root with apt-get.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } || echo "warning: Chromium is not installed; the browser tests will be skipped (and fail on CI)"

# A local demo classroom (JupyterHub + nbgrader's exchange) on http://127.0.0.1:8000 until Ctrl-C;
# `$(BIN)/python classroom/demo.py grade LAB` collects, grades and releases feedback (see README).
classroom: $(STAMP)
	$(BIN)/python classroom/demo.py start $(CLASSROOM_ARGS)

# The whole suite: the fast suite, then the real-browser suite (they do not share the two cores).
test: test-fast test-browser

# Style: ruff (rules E, F, I, B; 100 columns; configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .

# Lint, then unit and common tests, grading round trips (every lab source through both graders),
# red-team suite, site build.
test-fast: $(STAMP) sandbox lint
	COURSE_QUIET=1 MPLBACKEND=agg OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --durations=15

# The real-browser suite (tests_browser/): every lecture run top to bottom in JupyterLab in headless
# Chromium, on 2 workers (each its own server and browser, one kernel thread each).
test-browser: $(STAMP) browser
	COURSE_QUIET=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --durations=8 tests_browser

# Every lecture under nbval (all cells run, their asserts check the claims), for a machine without a
# browser; `make test` runs the lectures in the browser suite instead.
test-notebooks: $(STAMP)
	COURSE_QUIET=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile lectures

# The static course site (Sphinx + MyST-NB, executed lectures as committed) in build/site/.
site: $(STAMP)
	$(BIN)/sphinx-build -q -c site . build/site
	@printf '<meta http-equiv="refresh" content="0; url=site/index.html">\n' > build/site/index.html
	@echo "course site: build/site/index.html"

release: $(STAMP)
	cd labs && for lab in $(if $(LAB),$(LAB),$$(ls source)); do PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment --force "$$lab" || exit 1; done

# Grade a folder of submissions (one sub-folder per student) for one lab: make grade LAB=01_ising SUBMISSIONS=path
grade: $(STAMP) sandbox
	@test -n "$(LAB)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade LAB=01_ising SUBMISSIONS=path/to/folder [GRADE_ARGS=--resume]"; exit 2; }
	$(BIN)/python -m course_grader grade $(LAB) $(SUBMISSIONS) $(GRADE_ARGS)

notebooks: $(STAMP)
	COURSE_QUIET=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace lectures/[0-9][0-9]_*.ipynb

# zuko (flows) and diffusers (DDPM scheduler) are reference libraries, installed only for the
# comparisons in bench/bench_flows.py and bench/bench_diffusion.py.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet zuko==1.6.0 diffusers==0.42.1
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV)

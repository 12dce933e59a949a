"""`python -m benchmarks [--quick] [--profile]`: every benchmark and the SPEC §10 targets (see run_all.py)."""

from benchmarks.run_all import main

raise SystemExit(main())
